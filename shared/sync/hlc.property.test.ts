import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClockDriftError,
  HLC_MAX_COUNTER,
  HLC_MAX_WALL_MS,
  type Hlc,
  HlcCounterOverflowError,
  compareHlc,
  encodeHlc,
  initialHlc,
  parseHlc,
  receive,
  tick,
} from './hlc.js';

const RUNS = { seed: 2014, numRuns: 500 } as const;
const BASE_MS = 1_767_225_600_000; // 2026-01-01, so wall times look like real ones

// Few devices, a narrow wall-time window and counters near both ends, so ties and overflows happen.
const deviceId = fc.constantFrom('A', 'B', 'a', '01J9Z3K8Q4W6X2Y5V7T0N1M3P8', 'dev_1', 'dev-1');
const wallMs = fc.oneof(
  fc.integer({ min: BASE_MS, max: BASE_MS + 20 }),
  fc.integer({ min: 0, max: HLC_MAX_WALL_MS }),
  fc.constantFrom(0, HLC_MAX_WALL_MS),
);
const counter = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: HLC_MAX_COUNTER - 3, max: HLC_MAX_COUNTER }),
  fc.integer({ min: 0, max: HLC_MAX_COUNTER }),
);
const hlc: fc.Arbitrary<Hlc> = fc.record({ wallMs, counter, deviceId });
const nearWall = fc.integer({ min: BASE_MS - 5, max: BASE_MS + 25 });
const nearHlc: fc.Arbitrary<Hlc> = fc.record({ wallMs: nearWall, counter, deviceId });

/** Runs an HLC step; an exhausted counter is the one refusal the properties allow. */
function attempt(step: () => Hlc): Hlc | 'overflow' {
  try {
    return step();
  } catch (error) {
    if (error instanceof HlcCounterOverflowError) return 'overflow';
    throw error;
  }
}

describe('hybrid logical clock properties', () => {
  it('tick returns a timestamp strictly greater than the local one and not behind the physical clock', () => {
    fc.assert(
      fc.property(nearHlc, nearWall, (local, nowMs) => {
        const next = attempt(() => tick(local, nowMs));
        if (next === 'overflow') {
          expect(local.counter).toBe(HLC_MAX_COUNTER);
          expect(nowMs).toBeLessThanOrEqual(local.wallMs);
          return;
        }
        expect(compareHlc(next, local)).toBe(1);
        expect(next.wallMs).toBeGreaterThanOrEqual(nowMs);
        expect(next.deviceId).toBe(local.deviceId);
      }),
      RUNS,
    );
  });

  it('receive returns a timestamp strictly greater than both inputs and not behind the physical clock', () => {
    fc.assert(
      fc.property(nearHlc, nearHlc, nearWall, (local, remote, nowMs) => {
        const next = attempt(() => receive(local, remote, nowMs));
        if (next === 'overflow') {
          expect(Math.max(local.counter, remote.counter)).toBe(HLC_MAX_COUNTER);
          return;
        }
        expect(compareHlc(next, local)).toBe(1);
        expect(compareHlc(next, remote)).toBe(1);
        expect(next.wallMs).toBeGreaterThanOrEqual(nowMs);
        expect(next.counter).toBeLessThanOrEqual(HLC_MAX_COUNTER);
      }),
      RUNS,
    );
  });

  it('receive refuses exactly the remote timestamps further ahead than the drift limit', () => {
    fc.assert(
      fc.property(
        nearHlc,
        fc.integer({ min: 0, max: 2_000 }),
        fc.integer({ min: -50, max: 2_100 }),
        (local, maxDriftMs, aheadMs) => {
          const nowMs = BASE_MS;
          const remote: Hlc = { wallMs: nowMs + aheadMs, counter: 0, deviceId: 'remote' };
          let outcome: Hlc | 'overflow' | 'drift';
          try {
            outcome = attempt(() => receive(local, remote, nowMs, maxDriftMs));
          } catch (error) {
            if (!(error instanceof ClockDriftError)) throw error;
            outcome = 'drift';
          }
          expect(outcome === 'drift').toBe(aheadMs > maxDriftMs);
        },
      ),
      RUNS,
    );
  });

  it('orders encoded text exactly as compareHlc orders timestamps', () => {
    fc.assert(
      fc.property(hlc, hlc, (a, b) => {
        const textA = encodeHlc(a);
        const textB = encodeHlc(b);
        const textOrder = textA < textB ? -1 : textA > textB ? 1 : 0;
        expect(textOrder).toBe(compareHlc(a, b));
      }),
      RUNS,
    );
  });

  it('parses its own encoding back to the same timestamp, and encodes a parsed text back to the same text', () => {
    fc.assert(
      fc.property(hlc, (timestamp) => {
        const text = encodeHlc(timestamp);
        expect(parseHlc(text)).toEqual(timestamp);
        expect(encodeHlc(parseHlc(text))).toBe(text);
      }),
      RUNS,
    );
  });

  it('compareHlc is a total order: antisymmetric, and zero only for equal timestamps', () => {
    fc.assert(
      fc.property(hlc, hlc, (a, b) => {
        expect(compareHlc(a, b)).toBe(-compareHlc(b, a) || 0);
        expect(compareHlc(a, b) === 0).toBe(
          a.wallMs === b.wallMs && a.counter === b.counter && a.deviceId === b.deviceId,
        );
      }),
      RUNS,
    );
  });

  // A simulation of several devices exchanging messages while their skewed physical clocks advance:
  // the paper's bounds, checked after every event.
  it('keeps the counter bounded and the wall time within the fastest physical clock as clocks advance', () => {
    const device = fc.integer({ min: 0, max: 3 });
    const event = fc.record({
      device,
      advanceMs: fc.integer({ min: 0, max: 3 }),
      kind: fc.constantFrom('tick', 'send'),
      to: device,
    });
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -30, max: 30 }), { minLength: 4, maxLength: 4 }),
        fc.array(event, { minLength: 1, maxLength: 200 }),
        (skews, events) => {
          const ids = ['d0', 'd1', 'd2', 'd3'];
          const clocks = ids.map(initialHlc);
          const eventsAtWall = new Map<number, number>();
          let trueTime = BASE_MS;
          for (const { device: from, advanceMs, kind, to } of events) {
            trueTime += advanceMs;
            const physical = (index: number) => trueTime + skews[index]!;
            const sent = tick(clocks[from]!, physical(from));
            clocks[from] = sent;
            const produced = [sent];
            if (kind === 'send') {
              const received = receive(clocks[to]!, sent, physical(to));
              clocks[to] = received;
              produced.push(received);
            }
            const fastest = trueTime + Math.max(...skews);
            for (const timestamp of produced) {
              const count = (eventsAtWall.get(timestamp.wallMs) ?? 0) + 1;
              eventsAtWall.set(timestamp.wallMs, count);
              // Kulkarni et al. theorem 3: c counts events sharing one l, so it stays below their number.
              expect(timestamp.counter).toBeLessThan(count);
              // l is always some device's physical time, never beyond the fastest clock.
              expect(timestamp.wallMs).toBeLessThanOrEqual(fastest);
            }
          }
        },
      ),
      { seed: 2014, numRuns: 200 },
    );
  });

  it('resets the counter to zero once the physical clock passes every timestamp seen', () => {
    fc.assert(
      fc.property(nearHlc, nearHlc, fc.integer({ min: 1, max: 1_000 }), (local, remote, aheadMs) => {
        const nowMs = Math.max(local.wallMs, remote.wallMs) + aheadMs;
        expect(tick(local, nowMs).counter).toBe(0);
        expect(receive(local, remote, nowMs).counter).toBe(0);
      }),
      RUNS,
    );
  });
});
