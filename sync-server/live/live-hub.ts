/**
 * This process's open live streams, by clinic, fed by the ChangeNotifier: when a clinic's change
 * log reaches a higher sequence number, each of its streams is told once. After the notifier
 * reports a gap (its listening connection was lost and is back), every clinic with open streams
 * has its current number read again from storage, so no stream waits on a missed notification.
 */
import type { Logger } from 'pino';
import type { SyncStorage } from '../storage/storage.js';
import type { ChangeNotifier } from './change-notifier.js';

/** What the hub needs of a stream. */
export interface HubStream {
  readonly clinicId: string;
  /** Called with a sequence number the clinic's log reached; the stream drops ones it has sent. */
  notify(latestSeq: number): void;
  /** Ends the stream (server shutdown). */
  end(): void;
}

/** Streams by clinic; subscribes to the notifier while it has any. */
export class LiveHub {
  private readonly byClinic = new Map<string, Set<HubStream>>();
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly notifier: ChangeNotifier,
    private readonly storage: SyncStorage,
    private readonly log: Logger,
  ) {}

  /** Adds a stream; returns its removal. A stream added after closeAll (opened while closing) is ended. */
  add(stream: HubStream): () => void {
    if (this.closed) {
      stream.end();
      return () => {};
    }
    this.unsubscribe ??= this.notifier.subscribe(
      (clinicId, latestSeq) => this.deliver(clinicId, latestSeq),
      () => void this.rereadAll(),
    );
    let streams = this.byClinic.get(stream.clinicId);
    if (!streams) this.byClinic.set(stream.clinicId, (streams = new Set()));
    streams.add(stream);
    return () => {
      const set = this.byClinic.get(stream.clinicId);
      set?.delete(stream);
      if (set?.size === 0) this.byClinic.delete(stream.clinicId);
    };
  }

  /** Ends every stream and stops listening (graceful shutdown: clients reconnect elsewhere). */
  closeAll(): void {
    this.closed = true;
    for (const streams of [...this.byClinic.values()]) for (const stream of [...streams]) stream.end();
    this.byClinic.clear();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Open streams (for logs and tests). */
  get size(): number {
    let total = 0;
    for (const streams of this.byClinic.values()) total += streams.size;
    return total;
  }

  private deliver(clinicId: string, latestSeq: number): void {
    for (const stream of [...(this.byClinic.get(clinicId) ?? [])]) stream.notify(latestSeq);
  }

  private async rereadAll(): Promise<void> {
    for (const clinicId of [...this.byClinic.keys()]) {
      try {
        const store = await this.storage.clinic(clinicId);
        this.deliver(clinicId, await store.latestChangeSeq());
      } catch (error) {
        this.log.warn({ event: 'live.reread_failed', error: (error as Error).name }, 'could not re-read a clinic');
      }
    }
  }
}
