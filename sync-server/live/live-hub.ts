/**
 * This process's open live streams, by clinic, fed by the ChangeNotifier. The work of a new change
 * does not depend on how many streams are open: a change notification is delivered to the
 * clinic's streams from memory, with no storage call.
 *
 * Revocations are checked per clinic, never per stream or per change: when a revocation is
 * announced (the notifier, from any process sharing the storage), every `revocationCheckMs` (for
 * a revocation nobody announced: another process on the embedded storage, a direct storage call)
 * and after a notifier gap, the hub reads each clinic's devices once and ends the streams of
 * those revoked or gone. After a gap, every clinic with open streams also has its current number
 * read again from storage, so no stream waits on a missed notification.
 */
import type { Logger } from 'pino';
import type { SyncStorage } from '../storage/storage.js';
import type { ChangeNotifier } from './change-notifier.js';

/** What the hub needs of a stream. */
export interface HubStream {
  readonly clinicId: string;
  readonly deviceId: string;
  /** Called with a sequence number the clinic's log reached; the stream drops ones it has sent. */
  notify(latestSeq: number): void;
  /** Tells the device it was revoked and ends the stream. */
  revoke(): void;
  /** Ends the stream (server shutdown). */
  end(): void;
}

/** What the hub is built from. */
export interface LiveHubOptions {
  readonly notifier: ChangeNotifier;
  readonly storage: SyncStorage;
  readonly log: Logger;
  /** How often each clinic with open streams has its revoked devices read (ms). */
  readonly revocationCheckMs: number;
}

/** Streams by clinic; subscribes to the notifier and runs the revocation sweep while it has any. */
export class LiveHub {
  private readonly byClinic = new Map<string, Set<HubStream>>();
  /** Clinics whose revocation check is running, and whether another was asked for meanwhile. */
  private readonly checking = new Map<string, { again: boolean }>();
  private unsubscribe: (() => void) | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: LiveHubOptions) {}

  /** Adds a stream; returns its removal. A stream added after closeAll (opened while closing) is ended. */
  add(stream: HubStream): () => void {
    if (this.closed) {
      stream.end();
      return () => {};
    }
    this.listen();
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
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Open streams (for logs and tests). */
  get size(): number {
    let total = 0;
    for (const streams of this.byClinic.values()) total += streams.size;
    return total;
  }

  /**
   * Reads the clinic's devices once and ends the streams of those revoked or unknown (fail
   * closed, as isDeviceRevoked). Concurrent requests for one clinic share a read, plus one more
   * after it when asked for while it ran (the revocation may have committed after the read began).
   */
  async checkRevocations(clinicId: string): Promise<void> {
    const running = this.checking.get(clinicId);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    this.checking.set(clinicId, state);
    try {
      while (state.again && this.byClinic.has(clinicId)) {
        state.again = false;
        await this.endRevokedStreams(clinicId);
      }
    } finally {
      this.checking.delete(clinicId);
    }
  }

  private listen(): void {
    if (this.unsubscribe) return;
    const { notifier } = this.options;
    const stopChanges = notifier.subscribe(
      (clinicId, latestSeq) => this.deliver(clinicId, latestSeq),
      () => void this.afterGap(),
    );
    const stopRevocations = notifier.subscribeRevocations((clinicId) => {
      if (this.byClinic.has(clinicId)) void this.checkRevocations(clinicId);
    });
    this.unsubscribe = () => {
      stopChanges();
      stopRevocations();
    };
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.revocationCheckMs);
    // The sweep must not keep a process alive whose server has stopped listening.
    this.sweepTimer.unref();
  }

  private deliver(clinicId: string, latestSeq: number): void {
    for (const stream of [...(this.byClinic.get(clinicId) ?? [])]) stream.notify(latestSeq);
  }

  private async endRevokedStreams(clinicId: string): Promise<void> {
    let active: Set<string>;
    try {
      const store = await this.options.storage.clinic(clinicId);
      const devices = await store.listDevices();
      active = new Set(devices.filter((device) => device.revokedAt === null).map((device) => device.deviceId));
    } catch (error) {
      // Storage unreachable: keep the streams; the next sweep or the device's next request decides.
      this.options.log.warn(
        { event: 'live.revocation_check_failed', clinicId, error: (error as Error).name },
        'check failed',
      );
      return;
    }
    for (const stream of [...(this.byClinic.get(clinicId) ?? [])]) {
      if (active.has(stream.deviceId)) continue;
      this.options.log.warn(
        { event: 'live.revoked', clinicId, deviceId: stream.deviceId },
        'revoked device stream ended',
      );
      stream.revoke();
    }
  }

  /** One revocation read per clinic with open streams, one clinic after another (the pool serves pulls too). */
  private async sweep(): Promise<void> {
    for (const clinicId of [...this.byClinic.keys()]) await this.checkRevocations(clinicId);
  }

  private async afterGap(): Promise<void> {
    for (const clinicId of [...this.byClinic.keys()]) {
      try {
        const store = await this.options.storage.clinic(clinicId);
        this.deliver(clinicId, await store.latestChangeSeq());
      } catch (error) {
        this.options.log.warn(
          { event: 'live.reread_failed', error: (error as Error).name },
          'could not re-read a clinic',
        );
      }
    }
    // A revocation announced while nobody listened was missed too.
    await this.sweep();
  }
}
