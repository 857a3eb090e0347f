import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../../shared/merkle/base64.js';
import { encodeUtf8, isWellFormedText, utf8Length } from '../../shared/merkle/utf8.js';

const RUNS = { seed: 4648, numRuns: 500 } as const;

// Node's Buffer is the reference implementation here; shared/ cannot use it.
describe('base64 and UTF-8 codecs against Buffer', () => {
  it('encodes base64 as Buffer does and decodes its own output back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        const text = encodeBase64(data);
        expect(text).toBe(Buffer.from(data).toString('base64'));
        expect(decodeBase64(text)).toEqual(data);
      }),
      RUNS,
    );
  });

  it('decodes exactly the strings Buffer would produce, refusing the rest', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AZaz09+/=-_ \nQgw'), maxLength: 12 }), (text) => {
        let decoded: Uint8Array | null;
        try {
          decoded = decodeBase64(text);
        } catch {
          decoded = null;
        }
        const canonical = Buffer.from(text, 'base64').toString('base64') === text;
        expect(decoded !== null).toBe(canonical);
        if (decoded) expect(Buffer.from(decoded).toString('base64')).toBe(text);
      }),
      RUNS,
    );
  });

  it('encodes well-formed text to the UTF-8 bytes Buffer gives', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
        expect(isWellFormedText(text)).toBe(true);
        expect(encodeUtf8(text)).toEqual(new Uint8Array(Buffer.from(text, 'utf8')));
        expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
      }),
      RUNS,
    );
  });

  it('refuses exactly the strings with a lone surrogate', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (text) => {
        const wellFormed = Buffer.from(text, 'utf8').toString('utf8') === text;
        expect(isWellFormedText(text)).toBe(wellFormed);
      }),
      RUNS,
    );
  });
});
