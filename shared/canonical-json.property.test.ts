import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CanonicalValue, canonicalJson } from './canonical-json.js';

// JSON values of the canonical subset: no floats, safe integers only.
const canonicalValue: fc.Arbitrary<CanonicalValue> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.string({ unit: 'binary' }),
    fc.maxSafeInteger(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 4 }),
  ),
})).value as fc.Arbitrary<CanonicalValue>;

/** Rebuilds a value with its object keys inserted in reverse order. */
function reorderKeys(value: CanonicalValue): CanonicalValue {
  if (Array.isArray(value)) return value.map(reorderKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, CanonicalValue> = {};
    for (const key of Object.keys(value).reverse())
      out[key] = reorderKeys((value as Record<string, CanonicalValue>)[key]!);
    return out;
  }
  return value;
}

describe('canonicalJson properties', () => {
  it('parses back to an equal value', () => {
    fc.assert(
      fc.property(canonicalValue, (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(value);
      }),
      { seed: 2026, numRuns: 300 },
    );
  });

  it('does not depend on the order in which object keys were inserted', () => {
    fc.assert(
      fc.property(canonicalValue, (value) => {
        expect(canonicalJson(reorderKeys(value))).toBe(canonicalJson(value));
      }),
      { seed: 2026, numRuns: 300 },
    );
  });

  it('is a fixed point: canonicalising the parsed canonical text gives the same text', () => {
    fc.assert(
      fc.property(canonicalValue, (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text) as CanonicalValue)).toBe(text);
      }),
      { seed: 2026, numRuns: 300 },
    );
  });
});
