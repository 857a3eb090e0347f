/**
 * Time, randomness and ids come through these sources so tests are deterministic: production
 * uses the system clock and node:crypto, tests a manual clock and a seeded generator.
 */
import { createHash, randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Clock } from '../../../shared/clock.js';

export type { Clock };

/** Cryptographically strong random bytes. */
export interface RandomSource {
  bytes(length: number): Buffer;
}

/** Produces new time-ordered ids (ULIDs). */
export interface IdSource {
  next(): string;
}

/** Everything the core takes from the outside world. */
export interface Sources {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly ids: IdSource;
}

export const systemClock: Clock = { now: () => Date.now() };

export const cryptoRandom: RandomSource = { bytes: (length) => randomBytes(length) };

/** ULIDs from a clock and a random source, monotonic within one millisecond. */
export function ulidSource(clock: Clock, random: RandomSource): IdSource {
  // ulid's PRNG contract: a float in [0, 1). Four random bytes give 32 bits of it per character.
  const generate = monotonicFactory(() => random.bytes(4).readUInt32BE(0) / 0x1_0000_0000);
  return { next: () => generate(clock.now()) };
}

/** Production sources. */
export function systemSources(): Sources {
  return { clock: systemClock, random: cryptoRandom, ids: ulidSource(systemClock, cryptoRandom) };
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 5, 9, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}

/** Deterministic bytes from a seed (SHA-256 in counter mode); for tests only, never for keys in production. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  return {
    bytes(length) {
      const chunks: Buffer[] = [];
      let total = 0;
      while (total < length) {
        const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
        chunks.push(block);
        total += block.length;
      }
      return Buffer.concat(chunks).subarray(0, length);
    },
  };
}

/** Deterministic sources for tests. */
export function testSources(seed = 'chairside-test', clock = new ManualClock()): Sources & { clock: ManualClock } {
  const random = seededRandom(seed);
  return { clock, random, ids: ulidSource(clock, random) };
}
