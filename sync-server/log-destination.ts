/**
 * Where the sync server's log lines go: standard output, written so that a reader who stops
 * reading or goes away can never stall or hang the server.
 *
 * pino's own stdout destination (sonic-boom) flushes synchronously at exit, and its flushSync
 * retries a failed write every 100 ms forever: with a full pipe whose reader closed it (EPIPE), a
 * server that had closed everything never exited. Here lines go through Node's own stdout
 * stream, which writes a pipe without blocking and whose pending writes do not hold up
 * `process.exit`; lines beyond `maxBufferedBytes` waiting for a slow reader are dropped (and
 * counted in one line once the reader catches up); a write error (EPIPE: the reader went away)
 * ends logging instead of failing the process; and `flush` waits for the pending lines at most
 * `deadlineMs`, so a shutdown exits on time with what was logged so far.
 */
import type { Writable } from 'node:stream';

/** Pending bytes beyond which new lines are dropped rather than held in memory. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** A pino destination (`write`) that a shutdown can flush with a deadline. */
export interface LogDestination {
  /** Takes one serialized log line; never throws, never blocks. */
  write(line: string): void;
  /**
   * Resolves once the pending lines are written, the output is gone, or `deadlineMs` has passed,
   * whichever comes first; never rejects.
   */
  flush(deadlineMs: number): Promise<void>;
  /** Lines dropped so far because the reader fell behind or went away. */
  readonly dropped: number;
}

/** What the destination writes to (process.stdout unless a test passes another stream). */
export interface LogDestinationOptions {
  readonly output?: Writable;
  readonly maxBufferedBytes?: number;
}

/** A destination on standard output (or `options.output`) that never blocks the process or its exit. */
export function nonBlockingLogDestination(options: LogDestinationOptions = {}): LogDestination {
  const output = options.output ?? process.stdout;
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  let gone = false;
  let dropped = 0;
  let droppedUnreported = 0;
  // EPIPE (the reader closed its end) and any other write failure: logging stops, the server does not.
  output.on('error', () => {
    gone = true;
  });
  output.on('drain', () => {
    if (droppedUnreported === 0 || gone) return;
    // The same shape as a pino line, so log readers see the gap.
    const line = JSON.stringify({ level: 40, time: Date.now(), event: 'log.dropped', lines: droppedUnreported });
    droppedUnreported = 0;
    output.write(`${line}\n`);
  });
  const isGone = () => gone || output.destroyed || output.writableEnded;
  return {
    write(line) {
      if (isGone()) {
        dropped++;
        return;
      }
      if (output.writableLength + line.length > maxBufferedBytes) {
        dropped++;
        droppedUnreported++;
        return;
      }
      output.write(line);
    },
    flush(deadlineMs) {
      return new Promise<void>((resolve) => {
        if (isGone() || output.writableLength === 0) {
          resolve();
          return;
        }
        const finish = () => {
          clearInterval(poll);
          clearTimeout(deadline);
          resolve();
        };
        // Node's stream emits no event when its buffer empties without having been full past its
        // high-water mark, and 'error' may never come while the reader is alive: look every 10 ms.
        const poll = setInterval(() => {
          if (isGone() || output.writableLength === 0) finish();
        }, 10);
        const deadline = setTimeout(finish, deadlineMs);
        // Neither timer may keep a process alive that has nothing else to do.
        poll.unref();
        deadline.unref();
      });
    },
    get dropped() {
      return dropped;
    },
  };
}
