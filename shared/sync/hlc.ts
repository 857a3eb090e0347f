/**
 * Hybrid logical clock after Kulkarni, Demirbas, Madappa, Avva and Leone, "Logical Physical
 * Clocks and Consistent Snapshots in Globally Distributed Databases" (2014), figure 5: a
 * timestamp is (l, c) where l is the largest physical time seen (here `wallMs`) and c a counter
 * that orders events sharing one l. The device id breaks the remaining ties, so the order is total
 * and every replica picks the same last writer in a field-by-field merge.
 *
 * Two guards the paper leaves to the system: a remote timestamp more than `maxDriftMs` ahead of
 * the local physical clock is refused (ClockDriftError), so one device with a fast clock cannot
 * drag every replica's l into the future; and the counter is bounded (0..0xFFFF) and throws when
 * exhausted rather than wrapping, because a wrapped counter would order a later event first.
 *
 * Pure functions: the caller passes the physical time, so tests and the server control it.
 */
import { z } from 'zod';

/** Largest counter value; one more event at the same wall time throws HlcCounterOverflowError. */
export const HLC_MAX_COUNTER = 0xffff;

/** Largest wall time the encoding holds (12 hex digits, about the year 10889). */
export const HLC_MAX_WALL_MS = 0xffff_ffff_ffff;

/** Default tolerance for a remote clock running ahead of ours (one minute). */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

// ASCII only, so string order is the same in JS (UTF-16 units), in bytes, and in a C collation.
const DEVICE_ID_PATTERN = /^[0-9A-Za-z_-]{1,64}$/;
const WALL_DIGITS = 12;
const COUNTER_DIGITS = 4;
const ENCODED_PATTERN = /^([0-9a-f]{12})-([0-9a-f]{4})-([0-9A-Za-z_-]{1,64})$/;

/** A device id as the clock accepts it: 1 to 64 ASCII letters, digits, `_` or `-` (ULIDs fit). */
export const hlcDeviceIdSchema = z.string().regex(DEVICE_ID_PATTERN, 'must be a device id');

/** A timestamp as an object; what `tick` and `receive` take and return. */
export const hlcSchema = z.strictObject({
  wallMs: z.number().int().min(0).max(HLC_MAX_WALL_MS),
  counter: z.number().int().min(0).max(HLC_MAX_COUNTER),
  deviceId: hlcDeviceIdSchema,
});

/** A hybrid logical clock timestamp: physical part, logical counter, and the device that made it. */
export type Hlc = Readonly<z.infer<typeof hlcSchema>>;

/** A timestamp in its sortable text form (`encodeHlc`), parsed and validated into an Hlc. */
export const encodedHlcSchema = z
  .string()
  .regex(ENCODED_PATTERN, 'must be an encoded hybrid logical clock timestamp')
  .transform((text): Hlc => {
    // The regex fixed the widths, so both numbers are in range by construction.
    return {
      wallMs: Number.parseInt(text.slice(0, WALL_DIGITS), 16),
      counter: Number.parseInt(text.slice(WALL_DIGITS + 1, WALL_DIGITS + 1 + COUNTER_DIGITS), 16),
      deviceId: text.slice(WALL_DIGITS + COUNTER_DIGITS + 2),
    };
  });

/** Thrown by `receive` when a remote timestamp is further ahead of our physical clock than allowed. */
export class ClockDriftError extends Error {
  override readonly name = 'ClockDriftError';
  /** How far the remote timestamp is ahead of our physical clock, in ms. */
  readonly driftMs: number;

  constructor(
    readonly remote: Hlc,
    readonly nowMs: number,
    readonly maxDriftMs: number,
  ) {
    super(`remote clock is ${remote.wallMs - nowMs} ms ahead of ours (at most ${maxDriftMs} ms allowed)`);
    this.driftMs = remote.wallMs - nowMs;
  }
}

/** Thrown when one wall time would need more events than the counter can number. */
export class HlcCounterOverflowError extends Error {
  override readonly name = 'HlcCounterOverflowError';

  constructor(readonly wallMs: number) {
    super(`hybrid logical clock counter exhausted at wall time ${wallMs}`);
  }
}

/** The clock of a device that has seen no event yet; every real timestamp is greater. */
export function initialHlc(deviceId: string): Hlc {
  return { wallMs: 0, counter: 0, deviceId: hlcDeviceIdSchema.parse(deviceId) };
}

/** The timestamp of a local event (a write, or sending a message): the paper's "send" rule. */
export function tick(local: Hlc, nowMs: number): Hlc {
  checkTimestamp(local, 'local');
  checkWallMs(nowMs, 'nowMs');
  if (nowMs > local.wallMs) return { wallMs: nowMs, counter: 0, deviceId: local.deviceId };
  return { wallMs: local.wallMs, counter: nextCounter(local.counter, local.wallMs), deviceId: local.deviceId };
}

/**
 * The timestamp of receiving a remote one (the paper's "receive" rule): greater than both the
 * local and the remote timestamp, never behind `nowMs`. Throws ClockDriftError when the remote
 * wall time is more than `maxDriftMs` ahead of `nowMs`.
 */
export function receive(local: Hlc, remote: Hlc, nowMs: number, maxDriftMs: number = DEFAULT_MAX_DRIFT_MS): Hlc {
  checkTimestamp(local, 'local');
  checkTimestamp(remote, 'remote');
  checkWallMs(nowMs, 'nowMs');
  if (!Number.isSafeInteger(maxDriftMs) || maxDriftMs < 0) throw new RangeError('maxDriftMs must be an integer >= 0');
  if (remote.wallMs - nowMs > maxDriftMs) throw new ClockDriftError(remote, nowMs, maxDriftMs);

  const wallMs = Math.max(local.wallMs, remote.wallMs, nowMs);
  let counter: number;
  if (wallMs === local.wallMs && wallMs === remote.wallMs) {
    counter = nextCounter(Math.max(local.counter, remote.counter), wallMs);
  } else if (wallMs === local.wallMs) {
    counter = nextCounter(local.counter, wallMs);
  } else if (wallMs === remote.wallMs) {
    counter = nextCounter(remote.counter, wallMs);
  } else {
    counter = 0;
  }
  return { wallMs, counter, deviceId: local.deviceId };
}

/** Total order of timestamps: wall time, then counter, then device id (UTF-16 code unit order). */
export function compareHlc(a: Hlc, b: Hlc): -1 | 0 | 1 {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.deviceId !== b.deviceId) return a.deviceId < b.deviceId ? -1 : 1;
  return 0;
}

/**
 * Sortable text of a timestamp: `<12 hex wall ms>-<4 hex counter>-<device id>`, lower-case hex.
 * Fixed widths make plain string order (and a database's binary collation) equal compareHlc order.
 */
export function encodeHlc(timestamp: Hlc): string {
  checkTimestamp(timestamp, 'timestamp');
  const wall = timestamp.wallMs.toString(16).padStart(WALL_DIGITS, '0');
  const counter = timestamp.counter.toString(16).padStart(COUNTER_DIGITS, '0');
  return `${wall}-${counter}-${timestamp.deviceId}`;
}

/** Parses and validates the text form; throws a ZodError for anything `encodeHlc` cannot produce. */
export function parseHlc(text: string): Hlc {
  return encodedHlcSchema.parse(text);
}

/**
 * The device id of an encoded HLC, or null when the text is not one: the check a change's
 * schema makes on every change (shared/sync/change.ts), without building the parsed clock.
 */
export function encodedHlcDeviceId(text: string): string | null {
  return ENCODED_PATTERN.exec(text)?.[3] ?? null;
}

/**
 * The wall-clock part of an encoded HLC that was already validated (a parsed change's `hlc`):
 * its fixed-width hex prefix, read without parsing the whole clock again.
 */
export function validatedHlcWallMs(encoded: string): number {
  return Number.parseInt(encoded.slice(0, WALL_DIGITS), 16);
}

function nextCounter(counter: number, wallMs: number): number {
  if (counter >= HLC_MAX_COUNTER) throw new HlcCounterOverflowError(wallMs);
  return counter + 1;
}

function checkWallMs(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > HLC_MAX_WALL_MS) {
    throw new RangeError(`${what} must be an integer number of ms between 0 and ${HLC_MAX_WALL_MS}`);
  }
}

// A cheap structural check instead of a zod parse: tick and receive run on every replicated write.
function checkTimestamp(timestamp: Hlc, what: string): void {
  checkWallMs(timestamp.wallMs, `${what}.wallMs`);
  if (!Number.isSafeInteger(timestamp.counter) || timestamp.counter < 0 || timestamp.counter > HLC_MAX_COUNTER) {
    throw new RangeError(`${what}.counter must be an integer between 0 and ${HLC_MAX_COUNTER}`);
  }
  if (typeof timestamp.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(timestamp.deviceId)) {
    throw new RangeError(`${what}.deviceId is not a valid device id`);
  }
}
