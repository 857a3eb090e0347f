/**
 * One device's live stream (docs/sync-protocol.md, "Live updates (built)"):
 *
 * - `resync {latestSeq}` first, with the clinic's current highest sequence number, so a device
 *   that reconnects pulls whatever it missed while it was away;
 * - `changes {latestSeq}` whenever the clinic's change log reaches a higher number;
 * - a comment line every `heartbeatMs`, so idle connections survive proxies and the device can
 *   tell a dead stream from a quiet one;
 * - `revoked {code}` and the end of the stream as soon as the device is found revoked (checked on
 *   every notification and every `revocationCheckMs`);
 * - `expired` and the end of the stream when the token expires: the device reconnects with a new
 *   token, so a stream never outlives the authentication it was opened with.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../shared/clock.js';
import type { ClinicStore } from '../storage/storage.js';
import type { HubStream } from './live-hub.js';
import type { SseWriter } from './sse-writer.js';

/** Timers of a stream. */
export interface LiveTimings {
  readonly heartbeatMs: number;
  readonly revocationCheckMs: number;
}

export const DEFAULT_LIVE_TIMINGS: LiveTimings = { heartbeatMs: 15_000, revocationCheckMs: 30_000 };

/** What a stream is opened with. */
export interface LiveStreamOptions {
  readonly store: ClinicStore;
  readonly deviceId: string;
  /** When the token the stream was opened with expires (ms). */
  readonly expiresAt: number;
  readonly clock: Clock;
  readonly timings: LiveTimings;
  readonly log: Logger;
  /** Called once when the stream ends, whoever ended it. */
  readonly onEnd: () => void;
}

/** A stream between `start` and its end. */
export class LiveStream implements HubStream {
  readonly clinicId: string;
  private sentSeq = -1;
  private pendingSeq = 0;
  private started = false;
  private ended = false;
  private checking = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly writer: SseWriter,
    private readonly options: LiveStreamOptions,
  ) {
    this.clinicId = options.store.clinicId;
  }

  /** Sends `resync` with the clinic's current number (or a higher one notified meanwhile) and starts the timers. */
  start(latestSeq: number): void {
    if (this.ended) return;
    this.started = true;
    this.sentSeq = Math.max(latestSeq, this.pendingSeq);
    this.writer.event('resync', { latestSeq: this.sentSeq });
    const { heartbeatMs, revocationCheckMs } = this.options.timings;
    this.timers.push(setInterval(() => this.writer.comment('heartbeat'), heartbeatMs));
    this.timers.push(setInterval(() => void this.checkRevocation(), revocationCheckMs));
    const untilExpiry = Math.max(0, this.options.expiresAt - this.options.clock.now());
    this.timers.push(
      setTimeout(() => {
        this.writer.event('expired', { reason: 'token-expired' });
        this.end();
      }, untilExpiry),
    );
  }

  notify(latestSeq: number): void {
    if (this.ended) return;
    if (!this.started) {
      // Arrived before resync went out: resync carries it.
      this.pendingSeq = Math.max(this.pendingSeq, latestSeq);
      return;
    }
    if (latestSeq > this.sentSeq) {
      this.sentSeq = latestSeq;
      this.writer.event('changes', { latestSeq });
    }
    void this.checkRevocation();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.writer.end();
    this.options.onEnd();
  }

  private async checkRevocation(): Promise<void> {
    if (this.checking || this.ended) return;
    this.checking = true;
    try {
      if (await this.options.store.isDeviceRevoked(this.options.deviceId)) {
        this.options.log.warn(
          { event: 'live.revoked', clinicId: this.clinicId, deviceId: this.options.deviceId },
          'revoked device stream ended',
        );
        this.writer.event('revoked', { code: 'DEVICE_REVOKED' });
        this.end();
      }
    } catch (error) {
      // Storage unreachable: keep the stream; the next check or the device's next request decides.
      this.options.log.warn({ event: 'live.revocation_check_failed', error: (error as Error).name }, 'check failed');
    } finally {
      this.checking = false;
    }
  }
}
