/**
 * The live channel of one server process: the notifier it listens to, its hub of open streams and
 * the stream timings. Built by createSyncServer; the change routes publish through it after an
 * append commits, and closing the server ends its streams. Revocations reach the hub through the
 * notifier (`publishRevocation`, from whichever process revoked).
 */
import type { Logger } from 'pino';
import type { SyncStorage } from '../storage/storage.js';
import type { ChangeNotifier } from './change-notifier.js';
import { LiveHub } from './live-hub.js';
import { DEFAULT_LIVE_TIMINGS, type LiveTimings } from './live-stream.js';

export class LiveChannel {
  readonly hub: LiveHub;

  constructor(
    readonly notifier: ChangeNotifier,
    storage: SyncStorage,
    private readonly log: Logger,
    readonly timings: LiveTimings = DEFAULT_LIVE_TIMINGS,
  ) {
    this.hub = new LiveHub({ notifier, storage, log, revocationCheckMs: timings.revocationCheckMs });
  }

  /**
   * Tells every process that a clinic's log reached `latestSeq`. Called after the append
   * committed; a failure is logged, never the push's failure: the devices' periodic rounds and the
   * resync on reconnect still bring the change.
   */
  async changesCommitted(clinicId: string, latestSeq: number): Promise<void> {
    try {
      await this.notifier.publish(clinicId, latestSeq);
    } catch (error) {
      this.log.warn({ event: 'live.publish_failed', error: (error as Error).name }, 'notification not sent');
    }
  }
}
