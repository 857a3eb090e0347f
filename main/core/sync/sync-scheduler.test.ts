import { describe, expect, it } from 'vitest';
import type { SyncRound } from '../../../shared/api/sync.js';
import type { LiveEnd, LiveEvent } from './live-client.js';
import { SyncRequestError } from './sync-http.js';
import { type BackgroundSyncOptions, type SchedulerTimers, SyncScheduler, jitteredDelay } from './sync-scheduler.js';

/** Timers that run only when the test advances time. */
class FakeTimers implements SchedulerTimers {
  now = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { at: this.now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Delays of the timers now pending, from now. */
  delays(): number[] {
    return [...this.pending.values()].map((timer) => timer.at - this.now).sort((x, y) => x - y);
  }

  /** Moves time forward, firing due timers in order and letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const due = [...this.pending.entries()].filter(([, timer]) => timer.at <= end).sort((x, y) => x[1].at - y[1].at);
      const first = due[0];
      if (!first) break;
      this.pending.delete(first[0]);
      this.now = first[1].at;
      first[1].callback();
    }
    this.now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

const OK: SyncRound = {
  connected: true,
  ok: true,
  pushed: 0,
  refused: 0,
  pulled: 0,
  applied: 0,
  conflicts: 0,
  error: null,
};
const FAILED: SyncRound = { ...OK, ok: false, error: 'NETWORK' };

/** A scheduler over fakes: rounds answer from a queue, the live stream is driven by the test. */
function harness(options: BackgroundSyncOptions = {}, random = 0.5) {
  const timers = new FakeTimers();
  const answers: SyncRound[] = [];
  let rounds = 0;
  let cursor = 0;
  let releaseRound: (() => void) | null = null;
  let holdRounds = false;
  let emit: ((event: LiveEvent) => void) | null = null;
  let endStream: ((end: LiveEnd) => void) | null = null;
  const liveFailures: SyncRequestError[] = [];
  let liveConnects = 0;
  let revoked = 0;
  const scheduler = new SyncScheduler(
    {
      async runRound() {
        rounds++;
        if (holdRounds) await new Promise<void>((resolve) => (releaseRound = resolve));
        return answers.shift() ?? OK;
      },
      localCursor: () => cursor,
      async connectLive(onEvent, signal) {
        liveConnects++;
        const failure = liveFailures.shift();
        if (failure) throw failure;
        emit = onEvent;
        return new Promise<LiveEnd>((resolve) => {
          endStream = resolve;
          signal.addEventListener('abort', () => resolve({ kind: 'aborted', events: 0 }));
        });
      },
      revoked: () => void revoked++,
      random: () => random,
    },
    { debounceMs: 100, intervalMs: 60_000, roundBackoff: { baseMs: 1_000, maxMs: 8_000 }, timers, ...options },
  );
  return {
    scheduler,
    timers,
    answers,
    liveFailures,
    rounds: () => rounds,
    liveConnects: () => liveConnects,
    revoked: () => revoked,
    setCursor: (value: number) => void (cursor = value),
    hold: () => void (holdRounds = true),
    release: () => {
      holdRounds = false;
      releaseRound?.();
    },
    emit: (event: LiveEvent) => emit!(event),
    endStream: (events: number) => endStream!({ kind: 'closed', events }),
  };
}

describe('SyncScheduler', () => {
  it('runs a round at start, so work a crash left pending is resumed', async () => {
    const h = harness({ live: false });
    h.scheduler.start();
    await h.timers.advance(0);
    expect(h.rounds()).toBe(1);
    expect(h.scheduler.started.start).toBe(1);
    await h.scheduler.stop();
  });

  it('debounces local writes: a burst of writes is one round after the quiet period', async () => {
    const h = harness({ live: false });
    h.scheduler.start();
    await h.timers.advance(0);
    for (let i = 0; i < 5; i++) {
      h.scheduler.noteLocalWrite();
      await h.timers.advance(50);
    }
    expect(h.rounds()).toBe(1);
    await h.timers.advance(100);
    expect(h.rounds()).toBe(2);
    expect(h.scheduler.started.write).toBe(1);
    await h.scheduler.stop();
  });

  it('runs a round on the timer', async () => {
    const h = harness({ live: false });
    h.scheduler.start();
    await h.timers.advance(60_000 * 3);
    expect(h.scheduler.started.timer).toBe(3);
    await h.scheduler.stop();
  });

  it('backs off exponentially with full jitter after failures, and resets after a success', async () => {
    const h = harness({ live: false }, 0.5);
    h.answers.push(FAILED, FAILED, FAILED, FAILED, FAILED);
    h.scheduler.start();
    await h.timers.advance(0);
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      // The retry timer is the shortest pending one (the 60 s timer round is the other).
      waits.push(h.timers.delays()[0]!);
      await h.timers.advance(h.timers.delays()[0]!);
    }
    // random 0.5 × min(8000, 1000 × 2^(n-1)).
    expect(waits).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(h.scheduler.consecutiveFailures).toBe(0);
    expect(h.rounds()).toBe(6);
    await h.scheduler.stop();
  });

  it('lets writes wait for the retry while backing off, but runs at once when the live channel is back', async () => {
    const h = harness({}, 0.5);
    h.answers.push(FAILED);
    h.scheduler.start();
    await h.timers.advance(0);
    expect(h.scheduler.consecutiveFailures).toBe(1);
    h.scheduler.noteLocalWrite();
    await h.timers.advance(200);
    expect(h.rounds()).toBe(1);
    h.emit({ kind: 'resync', latestSeq: 0 });
    await h.timers.advance(0);
    expect(h.rounds()).toBe(2);
    expect(h.scheduler.consecutiveFailures).toBe(0);
    await h.scheduler.stop();
  });

  it('pulls when the live channel announces a number past the local cursor, not otherwise', async () => {
    const h = harness();
    h.setCursor(7);
    h.scheduler.start();
    await h.timers.advance(0);
    expect(h.rounds()).toBe(1);
    h.emit({ kind: 'changes', latestSeq: 7 });
    h.emit({ kind: 'resync', latestSeq: 5 });
    await h.timers.advance(0);
    expect(h.rounds()).toBe(1);
    h.emit({ kind: 'changes', latestSeq: 8 });
    await h.timers.advance(0);
    expect(h.rounds()).toBe(2);
    expect(h.scheduler.started.live).toBe(1);
    await h.scheduler.stop();
  });

  it('runs one more round after the current one when a write arrives meanwhile, and none for an announced number the round already pulled', async () => {
    const h = harness();
    h.scheduler.start();
    await h.timers.advance(0);
    h.hold();
    h.scheduler.noteLocalWrite();
    await h.timers.advance(100);
    expect(h.rounds()).toBe(2);
    // Announced during the round; the round's pull reaches it.
    h.emit({ kind: 'changes', latestSeq: 3 });
    h.setCursor(3);
    h.release();
    await h.timers.advance(0);
    expect(h.rounds()).toBe(2);
    h.hold();
    h.scheduler.noteLocalWrite();
    await h.timers.advance(100);
    h.scheduler.noteLocalWrite();
    await h.timers.advance(100);
    h.release();
    await h.timers.advance(0);
    expect(h.rounds()).toBe(4);
    await h.scheduler.stop();
  });

  it('reconnects the live stream with backoff, promptly after a stream that worked', async () => {
    const h = harness({ liveBackoff: { baseMs: 1_000, maxMs: 4_000 } }, 0.5);
    h.liveFailures.push(new SyncRequestError(null, 'NETWORK'), new SyncRequestError(503, 'NOT_READY'));
    h.scheduler.start();
    await h.timers.advance(0);
    expect(h.liveConnects()).toBe(1);
    await h.timers.advance(499);
    expect(h.liveConnects()).toBe(1);
    await h.timers.advance(1);
    expect(h.liveConnects()).toBe(2);
    await h.timers.advance(1_000);
    expect(h.liveConnects()).toBe(3);
    h.emit({ kind: 'resync', latestSeq: 0 });
    h.endStream(1);
    await h.timers.advance(500);
    expect(h.liveConnects()).toBe(4);
    await h.scheduler.stop();
  });

  it('stops everything when the live channel refuses the device as revoked', async () => {
    const h = harness();
    h.liveFailures.push(new SyncRequestError(403, 'DEVICE_REVOKED'));
    h.scheduler.start();
    await h.timers.advance(0);
    expect(h.revoked()).toBe(1);
    expect(h.scheduler.running).toBe(false);
    h.scheduler.noteLocalWrite();
    await h.timers.advance(120_000);
    expect(h.rounds()).toBe(1);
    expect(h.liveConnects()).toBe(1);
  });

  it('stops after a round that found the device revoked', async () => {
    const h = harness({ live: false });
    h.answers.push({ ...FAILED, error: 'DEVICE_REVOKED' });
    h.scheduler.start();
    await h.timers.advance(0);
    expect(h.scheduler.running).toBe(false);
    await h.timers.advance(120_000);
    expect(h.rounds()).toBe(1);
  });

  it('leaves no timer behind when stopped', async () => {
    const h = harness();
    h.scheduler.start();
    h.scheduler.noteLocalWrite();
    await h.timers.advance(0);
    await h.scheduler.stop();
    expect(h.timers.delays()).toEqual([]);
  });
});

describe('jitteredDelay', () => {
  it('is a uniform fraction of the capped exponential ceiling', () => {
    const backoff = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 9].map((attempt) => jitteredDelay(backoff, attempt, 0.999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(jitteredDelay(backoff, 3, 0)).toBe(0);
  });
});
