/**
 * One device's live stream (docs/sync-protocol.md, "Live updates"):
 *
 * - `resync {latestSeq}` first, with the clinic's current highest sequence number, so a device
 *   that reconnects pulls whatever it missed while it was away;
 * - `changes {latestSeq}` whenever the clinic's change log reaches a higher number;
 * - a comment line every `heartbeatMs`, so idle connections survive proxies and the device can
 *   tell a dead stream from a quiet one;
 * - `revoked {code}` and the end of the stream as soon as the device is found revoked (the hub
 *   checks per clinic when a revocation is announced and every `revocationCheckMs`, live-hub.ts);
 * - `expired` and the end of the stream when the token expires: the device reconnects with a new
 *   token, so a stream never outlives the authentication it was opened with.
 */
import type { Clock } from '../../shared/clock.js';
import type { ClinicStore } from '../storage/storage.js';
import type { HubStream } from './live-hub.js';
import type { SseWriter } from './sse-writer.js';

/** Timers of the live channel. */
export interface LiveTimings {
  /** Between two heartbeat comments of a stream. */
  readonly heartbeatMs: number;
  /** Between two reads of each clinic's revoked devices, for revocations nobody announced (live-hub.ts). */
  readonly revocationCheckMs: number;
}

export const DEFAULT_LIVE_TIMINGS: LiveTimings = { heartbeatMs: 15_000, revocationCheckMs: 30_000 };

/** What a stream is opened with. */
export interface LiveStreamOptions {
  /** The device's clinic (only its id is used: the stream itself reads nothing from storage). */
  readonly store: Pick<ClinicStore, 'clinicId'>;
  readonly deviceId: string;
  /** When the token the stream was opened with expires (ms). */
  readonly expiresAt: number;
  readonly clock: Clock;
  readonly timings: LiveTimings;
  /** Called once when the stream ends, whoever ended it. */
  readonly onEnd: () => void;
}

/** A stream between `start` and its end. */
export class LiveStream implements HubStream {
  readonly clinicId: string;
  readonly deviceId: string;
  private sentSeq = -1;
  private pendingSeq = 0;
  private started = false;
  private ended = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly writer: SseWriter,
    private readonly options: LiveStreamOptions,
  ) {
    this.clinicId = options.store.clinicId;
    this.deviceId = options.deviceId;
  }

  /** Sends `resync` with the clinic's current number (or a higher one notified meanwhile) and starts the timers. */
  start(latestSeq: number): void {
    if (this.ended) return;
    this.started = true;
    this.sentSeq = Math.max(latestSeq, this.pendingSeq);
    this.writer.event('resync', { latestSeq: this.sentSeq });
    this.timers.push(setInterval(() => this.writer.comment('heartbeat'), this.options.timings.heartbeatMs));
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
  }

  revoke(): void {
    if (this.ended) return;
    this.writer.event('revoked', { code: 'DEVICE_REVOKED' });
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.writer.end();
    this.options.onEnd();
  }
}
