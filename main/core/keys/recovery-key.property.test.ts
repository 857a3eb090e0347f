/** Property tests of the recovery key's base32 text (RFC 4648 alphabet, 4-character groups). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RandomSource } from '../platform/sources.js';
import { generateRecoveryKey, parseRecoveryKey } from './recovery-key.js';

const SEED = 20260105;
const thirtyTwoBytes = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));

/** A random source that hands out exactly these bytes. */
const fixedBytes = (bytes: Buffer): RandomSource => ({ bytes: () => Buffer.from(bytes) });

describe('recovery key text', () => {
  it('reads back any 32 bytes it was formatted from', () => {
    fc.assert(
      fc.property(thirtyTwoBytes, (bytes) => {
        expect(parseRecoveryKey(generateRecoveryKey(fixedBytes(bytes)))).toEqual(bytes);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('reads back the same bytes whatever the case and the separators typed', () => {
    const separator = fc.constantFrom('-', ' ', '', '  ', '\t');
    fc.assert(
      fc.property(thirtyTwoBytes, fc.boolean(), separator, (bytes, lower, sep) => {
        const shown = generateRecoveryKey(fixedBytes(bytes));
        const typed = (lower ? shown.toLowerCase() : shown).split('-').join(sep);
        expect(parseRecoveryKey(typed)).toEqual(bytes);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('gives different texts for different bytes', () => {
    fc.assert(
      fc.property(thirtyTwoBytes, thirtyTwoBytes, (a, b) => {
        fc.pre(!a.equals(b));
        expect(generateRecoveryKey(fixedBytes(a))).not.toBe(generateRecoveryKey(fixedBytes(b)));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
