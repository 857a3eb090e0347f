import { describe, expect, it } from 'vitest';
import {
  ClockDriftError,
  DEFAULT_MAX_DRIFT_MS,
  HLC_MAX_COUNTER,
  HLC_MAX_WALL_MS,
  type Hlc,
  HlcCounterOverflowError,
  compareHlc,
  encodeHlc,
  encodedHlcSchema,
  initialHlc,
  parseHlc,
  receive,
  tick,
  validatedHlcWallMs,
} from './hlc.js';

const DEVICE = '01J9Z3K8Q4W6X2Y5V7T0N1M3P8';
const OTHER = '01J9Z3K8Q4W6X2Y5V7T0N1M3P9';

function at(wallMs: number, counter: number, deviceId = DEVICE): Hlc {
  return { wallMs, counter, deviceId };
}

describe('tick', () => {
  it('takes the physical time and resets the counter when the clock has moved on', () => {
    expect(tick(at(1_000, 7), 2_000)).toEqual(at(2_000, 0));
  });

  it('keeps the wall time and counts up when the physical clock has not moved or went back', () => {
    expect(tick(at(2_000, 7), 2_000)).toEqual(at(2_000, 8));
    expect(tick(at(2_000, 7), 1_500)).toEqual(at(2_000, 8));
  });

  it('throws instead of wrapping when the counter is exhausted', () => {
    expect(() => tick(at(2_000, HLC_MAX_COUNTER), 2_000)).toThrow(HlcCounterOverflowError);
    expect(tick(at(2_000, HLC_MAX_COUNTER), 2_001)).toEqual(at(2_001, 0));
  });

  it('refuses a physical time that is not a whole number of ms in range', () => {
    for (const bad of [-1, 1.5, Number.NaN, HLC_MAX_WALL_MS + 1]) {
      expect(() => tick(at(0, 0), bad)).toThrow(RangeError);
    }
  });

  it('starts from the initial clock of a device', () => {
    expect(tick(initialHlc(DEVICE), 5)).toEqual(at(5, 0));
    expect(() => initialHlc('has space')).toThrow();
  });
});

describe('receive', () => {
  it('follows a remote clock that is ahead within the drift limit', () => {
    expect(receive(at(1_000, 3), at(1_500, 9, OTHER), 1_200)).toEqual(at(1_500, 10));
  });

  it('counts past the larger counter when local, remote and physical wall times meet', () => {
    expect(receive(at(1_000, 3), at(1_000, 9, OTHER), 1_000)).toEqual(at(1_000, 10));
    expect(receive(at(1_000, 12), at(1_000, 9, OTHER), 900)).toEqual(at(1_000, 13));
  });

  it('counts on from the local counter when the local clock is ahead of the remote and physical ones', () => {
    expect(receive(at(1_000, 3), at(900, 9, OTHER), 950)).toEqual(at(1_000, 4));
  });

  it('resets the counter when the physical clock is ahead of both', () => {
    expect(receive(at(1_000, 3), at(1_100, 9, OTHER), 1_200)).toEqual(at(1_200, 0));
  });

  it('refuses a remote timestamp further ahead than the drift limit, with the details', () => {
    const remote = at(1_000 + DEFAULT_MAX_DRIFT_MS + 1, 0, OTHER);
    let caught: unknown;
    try {
      receive(at(1_000, 0), remote, 1_000);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ClockDriftError);
    expect(caught).toMatchObject({ driftMs: DEFAULT_MAX_DRIFT_MS + 1, maxDriftMs: DEFAULT_MAX_DRIFT_MS, nowMs: 1_000 });
  });

  it('accepts a remote timestamp exactly at the drift limit and honours a custom limit', () => {
    expect(receive(at(0, 0), at(1_000 + DEFAULT_MAX_DRIFT_MS, 0, OTHER), 1_000).wallMs).toBe(
      1_000 + DEFAULT_MAX_DRIFT_MS,
    );
    expect(() => receive(at(0, 0), at(1_101, 0, OTHER), 1_000, 100)).toThrow(ClockDriftError);
    expect(receive(at(0, 0), at(1_100, 0, OTHER), 1_000, 100)).toEqual(at(1_100, 1));
  });

  it('throws instead of wrapping when merging an exhausted remote counter', () => {
    expect(() => receive(at(1_000, 0), at(1_000, HLC_MAX_COUNTER, OTHER), 1_000)).toThrow(HlcCounterOverflowError);
  });

  it('refuses a malformed remote timestamp', () => {
    expect(() => receive(at(0, 0), at(0, HLC_MAX_COUNTER + 1, OTHER), 0)).toThrow(RangeError);
    expect(() => receive(at(0, 0), at(0, 0, ''), 0)).toThrow(RangeError);
    expect(() => receive(at(0, 0), at(-1, 0, OTHER), 0)).toThrow(RangeError);
  });
});

describe('encodeHlc and parseHlc', () => {
  it('writes fixed-width lower-case hex wall time and counter before the device id', () => {
    expect(encodeHlc(at(0x0192_a3b4_c5d6, 0x2a))).toBe(`0192a3b4c5d6-002a-${DEVICE}`);
    expect(parseHlc(`0192a3b4c5d6-002a-${DEVICE}`)).toEqual(at(0x0192_a3b4_c5d6, 0x2a));
  });

  it('sorts as text in timestamp order, the device id breaking ties', () => {
    const sorted = [at(2, 0, 'b'), at(1, 1, 'a'), at(1, 0, 'b'), at(1, 0, 'a'), at(0x1_0000_0000, 0, 'a')];
    const byText = sorted.map(encodeHlc).sort();
    expect(byText.map(parseHlc)).toEqual([...sorted].sort(compareHlc));
  });

  it('rejects text that encodeHlc cannot produce', () => {
    const bad = [
      '',
      `0192a3b4c5d6-002a-`,
      `0192A3B4C5D6-002a-${DEVICE}`,
      `192a3b4c5d6-002a-${DEVICE}`,
      `0192a3b4c5d6-02a-${DEVICE}`,
      `0192a3b4c5d6_002a-${DEVICE}`,
      `0192a3b4c5d6-002a-dev ice`,
      `0192a3b4c5d6-002a-${'d'.repeat(65)}`,
      ` 0192a3b4c5d6-002a-${DEVICE}`,
      `0192a3b4c5d6-002a-${DEVICE}\n`,
    ];
    for (const text of bad) expect(encodedHlcSchema.safeParse(text).success, text).toBe(false);
  });
});

describe('validatedHlcWallMs', () => {
  it('reads the wall clock of an encoded clock as parseHlc does, across the whole range', () => {
    for (const wallMs of [0, 1, Date.UTC(2026, 0, 5, 9), HLC_MAX_WALL_MS]) {
      const encoded = encodeHlc(at(wallMs, 7));
      expect(validatedHlcWallMs(encoded)).toBe(wallMs);
      expect(validatedHlcWallMs(encoded)).toBe(parseHlc(encoded).wallMs);
    }
  });
});
