import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { nonBlockingLogDestination } from './log-destination.js';

/** An output whose reader never reads: every write stays pending, as on a full pipe. */
function stuckOutput(): Writable {
  return new Writable({ highWaterMark: 64, write: () => undefined });
}

/** An output that takes writes until `fail` is called, then fails the next one as a closed pipe does. */
function closableOutput(): { output: Writable; written: string[]; close(): void } {
  const written: string[] = [];
  let closed = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (closed) callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      else {
        written.push(chunk.toString('utf8'));
        callback();
      }
    },
  });
  return { output, written, close: () => (closed = true) };
}

describe('nonBlockingLogDestination', () => {
  it('drops lines beyond its buffer while the reader does not read, instead of holding them all', () => {
    const output = stuckOutput();
    const destination = nonBlockingLogDestination({ output, maxBufferedBytes: 1_000 });
    for (let i = 0; i < 100; i++) destination.write(`${'x'.repeat(99)}\n`);
    expect(output.writableLength).toBeLessThanOrEqual(1_000);
    expect(destination.dropped).toBe(100 - output.writableLength / 100);
  });

  it('stops logging without an error when the reader closed the pipe', async () => {
    const { output, written, close } = closableOutput();
    const destination = nonBlockingLogDestination({ output });
    destination.write('first\n');
    close();
    destination.write('second\n');
    await new Promise((resolve) => setImmediate(resolve));
    destination.write('third\n');
    expect(written).toEqual(['first\n']);
    expect(destination.dropped).toBe(1);
  });

  it('gives up flushing a stuck output at the deadline', async () => {
    const destination = nonBlockingLogDestination({ output: stuckOutput() });
    destination.write('a line nobody reads\n');
    const started = Date.now();
    await destination.flush(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('flushes as soon as the pending lines are written', async () => {
    const { output, written } = closableOutput();
    const destination = nonBlockingLogDestination({ output });
    destination.write('last words\n');
    const started = Date.now();
    await destination.flush(5_000);
    expect(written).toEqual(['last words\n']);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
