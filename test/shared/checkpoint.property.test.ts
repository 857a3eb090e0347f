import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { toHex } from '../../shared/hashing.js';
import { formatCheckpoint, parseCheckpoint, signCheckpoint, verifyCheckpoint } from '../../shared/merkle/checkpoint.js';
import { ed25519NoteVerifier } from '../../shared/merkle/signed-note.js';
import { generateEd25519Key, verifyEd25519 } from './ed25519.js';

const RUNS = { seed: 2024, numRuns: 200 } as const;
const key = generateEd25519Key();
const KEY_NAME = 'sync.chairside.example/clinic';
const verifier = ed25519NoteVerifier(KEY_NAME, key.publicKey, verifyEd25519, nodeSha256);

// Any non-empty line of well-formed text without control characters.
const line = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
  .filter((text) => !Array.from(text).some((char) => char.charCodeAt(0) < 0x20));
const checkpoint = fc.record({
  origin: line,
  size: fc.oneof(fc.nat({ max: 1_000 }), fc.maxSafeNat()),
  rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  extensions: fc.array(line, { maxLength: 3 }),
});

describe('checkpoint properties', () => {
  it('parses what it formats back to the same checkpoint', () => {
    fc.assert(
      fc.property(checkpoint, (value) => {
        const text = formatCheckpoint(value);
        const parsed = parseCheckpoint(text);
        expect({ ...parsed, rootHash: toHex(parsed.rootHash) }).toEqual({ ...value, rootHash: toHex(value.rootHash) });
        expect(formatCheckpoint(parsed)).toBe(text);
      }),
      RUNS,
    );
  });

  it('verifies what it signs, and no longer after any one character of the text changes', () => {
    fc.assert(
      fc.property(checkpoint, fc.nat(), fc.constantFrom('0', '1', 'x', '='), (value, position, replacement) => {
        const text = formatCheckpoint(value);
        const signed = signCheckpoint(text, KEY_NAME, key.publicKey, key.sign, nodeSha256);
        expect(verifyCheckpoint(signed, [verifier])).toMatchObject({ ok: true });
        const at = position % (text.length - 1);
        fc.pre(text[at] !== replacement && text[at] !== '\n');
        const tampered = text.slice(0, at) + replacement + text.slice(at + 1) + signed.slice(text.length);
        expect(verifyCheckpoint(tampered, [verifier]).ok).toBe(false);
      }),
      { seed: 2024, numRuns: 100 },
    );
  });
});
