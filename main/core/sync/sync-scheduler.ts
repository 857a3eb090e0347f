/**
 * Background sync (docs/sync-protocol.md, "Background sync"). Runs the engine's rounds
 * without anyone asking:
 *
 * - once at start (a restart resumes whatever a crash left pending: the outbox and the stored
 *   cursor are the whole state);
 * - after local writes, debounced, so a burst of edits is one round;
 * - on a timer (every minute by default), which also catches anything a live event missed;
 * - when the live channel announces a sequence number past the local cursor, or resyncs after
 *   a reconnect.
 *
 * At most one round runs; a trigger during a round runs one more round after it. A failed round
 * is retried after an exponential backoff with full jitter (`random × min(max, base × 2^n)`),
 * during which writes and timer ticks wait for the retry; a live event (the server is reachable
 * again) runs a round at once. The live stream is reopened with its own backoff, reset once a
 * stream delivered events. A DEVICE_REVOKED answer stops everything (the engine locks the device).
 *
 * Timers and randomness are injected, so tests drive all of this deterministically.
 */
import type { SyncRound } from '../../../shared/api/sync.js';
import type { LiveEnd, LiveEvent } from './live-client.js';
import { SyncRequestError } from './sync-http.js';

/** The timer functions the scheduler uses (globals by default; tests pass a fake). */
export interface SchedulerTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Exponential backoff bounds. */
export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Tunables of background sync. */
export interface BackgroundSyncOptions {
  /** Quiet time after a local write before its round (default 250 ms). */
  readonly debounceMs?: number;
  /** Period of the timer round (default 60 s). */
  readonly intervalMs?: number;
  /** Backoff between failed rounds (default 1 s doubling to 5 min). */
  readonly roundBackoff?: Backoff;
  /** Backoff between live reconnects (default 1 s doubling to 1 min). */
  readonly liveBackoff?: Backoff;
  /** False: no live stream, timer and write rounds only. */
  readonly live?: boolean;
  readonly timers?: SchedulerTimers;
}

/** What the scheduler drives. */
export interface SchedulerDeps {
  /** One round (the engine's, joined if one is in progress); never throws for network failures. */
  runRound(): Promise<SyncRound>;
  /** The local pull cursor. */
  localCursor(): number;
  /** Opens the live stream and resolves when it ends; throws SyncRequestError when refused. */
  connectLive(onEvent: (event: LiveEvent) => void, signal: AbortSignal): Promise<LiveEnd>;
  /** The live channel refused this device as revoked. */
  revoked(): void;
  /** A number in [0, 1) for the jitter. */
  random(): number;
}

const DEFAULTS = {
  debounceMs: 250,
  intervalMs: 60_000,
  roundBackoff: { baseMs: 1_000, maxMs: 5 * 60_000 },
  liveBackoff: { baseMs: 1_000, maxMs: 60_000 },
};

const globalTimers: SchedulerTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Why a round was asked for. */
type Trigger = 'start' | 'write' | 'timer' | 'live' | 'retry';

/** Full jitter: a uniformly random delay up to the exponential ceiling of this attempt (1-based). */
export function jitteredDelay(backoff: Backoff, attempt: number, random: number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random * ceiling);
}

export class SyncScheduler {
  private readonly timers: SchedulerTimers;
  private readonly options: Required<Omit<BackgroundSyncOptions, 'timers'>>;
  private active = false;
  private roundInFlight: Promise<void> | null = null;
  private again = false;
  /** The highest sequence number a live event announced during a round. */
  private announcedSeq = 0;
  private failures = 0;
  private debounceTimer: unknown = null;
  private retryTimer: unknown = null;
  private intervalTimer: unknown = null;
  private liveAbort: AbortController | null = null;
  private liveLoop: Promise<void> | null = null;
  private wakeLive: (() => void) | null = null;
  private liveWaitTimer: unknown = null;
  /** Rounds started, by trigger (tests and status). */
  readonly started: Record<Trigger, number> = { start: 0, write: 0, timer: 0, live: 0, retry: 0 };

  constructor(
    private readonly deps: SchedulerDeps,
    options: BackgroundSyncOptions = {},
  ) {
    this.timers = options.timers ?? globalTimers;
    this.options = {
      debounceMs: options.debounceMs ?? DEFAULTS.debounceMs,
      intervalMs: options.intervalMs ?? DEFAULTS.intervalMs,
      roundBackoff: options.roundBackoff ?? DEFAULTS.roundBackoff,
      liveBackoff: options.liveBackoff ?? DEFAULTS.liveBackoff,
      live: options.live ?? true,
    };
  }

  get running(): boolean {
    return this.active;
  }

  /** Failed rounds in a row (0 after a successful one). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Starts: a round now, the timer, and the live stream. */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.request('start');
    this.armInterval();
    if (this.options.live) this.liveLoop = this.runLive();
  }

  /** A local write committed: a round after the debounce. */
  noteLocalWrite(): void {
    if (!this.active) return;
    if (this.debounceTimer !== null) this.timers.clearTimeout(this.debounceTimer);
    this.debounceTimer = this.timers.setTimeout(() => {
      this.debounceTimer = null;
      this.request('write');
    }, this.options.debounceMs);
  }

  /** Stops every timer and the stream, and waits for a round in progress to finish. */
  async stop(): Promise<void> {
    this.active = false;
    for (const timer of [this.debounceTimer, this.retryTimer, this.intervalTimer, this.liveWaitTimer]) {
      if (timer !== null) this.timers.clearTimeout(timer);
    }
    this.debounceTimer = this.retryTimer = this.intervalTimer = this.liveWaitTimer = null;
    this.liveAbort?.abort();
    this.wakeLive?.();
    await this.liveLoop;
    await this.roundInFlight;
  }

  /** Resolves once no round runs and none is queued (tests). */
  async idle(): Promise<void> {
    while (this.roundInFlight) await this.roundInFlight;
  }

  private request(trigger: Trigger, announcedSeq = 0): void {
    if (!this.active) return;
    if (this.retryTimer !== null) {
      // Backing off: only the retry itself or a sign of the server being back goes ahead.
      if (trigger !== 'live' && trigger !== 'retry') return;
      this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.roundInFlight) {
      // A live event during a round is often this device's own push, which the round's pull
      // covers: it only asks for another round if the cursor is still behind afterwards.
      if (trigger === 'live' && announcedSeq > 0) this.announcedSeq = Math.max(this.announcedSeq, announcedSeq);
      else this.again = true;
      return;
    }
    this.started[trigger]++;
    this.roundInFlight = this.round().finally(() => {
      this.roundInFlight = null;
      const behind = this.announcedSeq > this.deps.localCursor();
      this.announcedSeq = 0;
      if ((this.again || behind) && this.active && this.retryTimer === null) {
        this.again = false;
        this.request('retry');
      }
    });
  }

  private async round(): Promise<void> {
    let round: SyncRound | null;
    try {
      round = await this.deps.runRound();
    } catch {
      // The engine reports failures in its result; a throw is a local fault, retried the same way.
      round = null;
    }
    if (!this.active) return;
    if (round?.ok) {
      this.failures = 0;
      return;
    }
    if (round && (round.error === 'DEVICE_REVOKED' || !round.connected)) {
      // Nothing to retry: the device is locked, or not connected to a server at all.
      void this.stop();
      return;
    }
    this.failures++;
    this.again = false;
    const delay = jitteredDelay(this.options.roundBackoff, this.failures, this.deps.random());
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.request('retry');
    }, delay);
  }

  private armInterval(): void {
    this.intervalTimer = this.timers.setTimeout(() => {
      this.intervalTimer = null;
      if (!this.active) return;
      this.request('timer');
      this.armInterval();
    }, this.options.intervalMs);
  }

  private onLiveEvent(event: LiveEvent): void {
    switch (event.kind) {
      case 'resync':
        // After a reconnect: pull what was missed, and retry at once if rounds were failing.
        if (event.latestSeq > this.deps.localCursor() || this.failures > 0) this.request('live', event.latestSeq);
        return;
      case 'changes':
        if (event.latestSeq > this.deps.localCursor()) this.request('live', event.latestSeq);
        return;
      case 'revoked':
        // The round's own answer is the authority on revocation; it locks the device.
        this.request('live');
        return;
      case 'expired':
        return;
    }
  }

  private async runLive(): Promise<void> {
    let attempt = 0;
    while (this.active) {
      this.liveAbort = new AbortController();
      try {
        const end = await this.deps.connectLive((event) => this.onLiveEvent(event), this.liveAbort.signal);
        if (end.kind === 'aborted') return;
        // A stream that worked resets the backoff: reconnect soon (token expiry, server restart).
        if (end.events > 0) attempt = 0;
      } catch (failure) {
        if (failure instanceof SyncRequestError && failure.code === 'DEVICE_REVOKED') {
          this.deps.revoked();
          void this.stop();
          return;
        }
        // Network failures and other refusals: back off and try again.
      }
      if (!this.active) return;
      attempt++;
      await this.liveWait(jitteredDelay(this.options.liveBackoff, attempt, this.deps.random()));
    }
  }

  private liveWait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeLive = () => {
        this.wakeLive = null;
        if (this.liveWaitTimer !== null) this.timers.clearTimeout(this.liveWaitTimer);
        this.liveWaitTimer = null;
        resolve();
      };
      this.liveWaitTimer = this.timers.setTimeout(() => {
        this.liveWaitTimer = null;
        this.wakeLive?.();
      }, ms);
    });
  }
}
