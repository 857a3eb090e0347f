import { describe, expect, it } from 'vitest';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { toHex } from '../../shared/hashing.js';
import { decodeBase64, encodeBase64 } from '../../shared/merkle/base64.js';
import {
  type Checkpoint,
  CheckpointFormatError,
  formatCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  verifyCheckpoint,
} from '../../shared/merkle/checkpoint.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import {
  type NoteVerifier,
  ed25519NoteVerifier,
  signNote,
  ed25519NoteSigner,
} from '../../shared/merkle/signed-note.js';
import { verifyConsistency } from '../../shared/merkle/verify.js';
import { type Ed25519TestKey, generateEd25519Key, verifyEd25519 } from './ed25519.js';

const sha256 = nodeSha256;
const ORIGIN = 'sync.chairside.example/clinic/01J9Z3K8Q4W6X2Y5V7T0N1M3P8';
// The example body of the C2SP tlog-checkpoint specification.
const SPEC_EXAMPLE = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

const logKey = generateEd25519Key();
const witnessKey = generateEd25519Key();

function verifierFor(name: string, key: Ed25519TestKey): NoteVerifier {
  return ed25519NoteVerifier(name, key.publicKey, verifyEd25519, sha256);
}

function sign(note: string, name: string, key: Ed25519TestKey): string {
  return signCheckpoint(note, name, key.publicKey, key.sign, sha256);
}

function checkpointOf(log: MerkleLog, size = log.size): Checkpoint {
  return { origin: ORIGIN, size, rootHash: log.root(size) };
}

function logOf(count: number, prefix = 'entry'): MerkleLog {
  const log = new MerkleLog(sha256);
  for (let i = 0; i < count; i++) log.appendLeaf(`${prefix} ${i}`);
  return log;
}

/** The signed note with one line replaced, keeping the signatures. */
function replaceLine(note: string, index: number, line: string): string {
  const lines = note.split('\n');
  lines[index] = line;
  return lines.join('\n');
}

describe('checkpoint text', () => {
  it('parses the specification example and writes it back byte for byte', () => {
    const parsed = parseCheckpoint(SPEC_EXAMPLE);
    expect(parsed).toMatchObject({ origin: 'example.com/behind-the-sofa', size: 20852163, extensions: [] });
    expect(encodeBase64(parsed.rootHash)).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(formatCheckpoint(parsed)).toBe(SPEC_EXAMPLE);
  });

  it('round-trips checkpoints with and without extension lines, the empty tree included', () => {
    const samples: Checkpoint[] = [
      { origin: ORIGIN, size: 0, rootHash: sha256() },
      { origin: 'a', size: Number.MAX_SAFE_INTEGER, rootHash: new Uint8Array(32).fill(0xff) },
      {
        origin: 'clinic log \u2014 caf\u00e9 \u{1f9b7}',
        size: 7,
        rootHash: sha256('x'),
        extensions: ['ext one', 'two'],
      },
    ];
    for (const checkpoint of samples) {
      const parsed = parseCheckpoint(formatCheckpoint(checkpoint));
      expect({ ...parsed, rootHash: toHex(parsed.rootHash) }).toEqual({
        extensions: [],
        ...checkpoint,
        rootHash: toHex(checkpoint.rootHash),
      });
    }
  });

  it('refuses malformed checkpoint texts', () => {
    const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
    const bad: Array<[string, string]> = [
      ['leading zero', `o\n012\n${root}\n`],
      ['zero with leading zero', `o\n00\n${root}\n`],
      ['plus sign', `o\n+12\n${root}\n`],
      ['minus sign', `o\n-1\n${root}\n`],
      ['exponent', `o\n1e3\n${root}\n`],
      ['hex size', `o\n0x10\n${root}\n`],
      ['space in size', `o\n 12\n${root}\n`],
      ['size above 2^53 - 1', `o\n9007199254740992\n${root}\n`],
      ['empty size', `o\n\n${root}\n`],
      ['missing trailing newline', `o\n12\n${root}`],
      ['too few lines', `o\n12\n`],
      ['empty origin', `\n12\n${root}\n`],
      ['empty extension line', `o\n12\n${root}\n\next\n`],
      ['root without padding', `o\n12\n${root.slice(0, -1)}\n`],
      ['root with non-zero pad bits', `o\n12\n${root.slice(0, -2)}J=\n`],
      ['URL-safe root', `o\n12\n${root.replace('/', '_')}\n`],
      ['root of 31 bytes', `o\n12\n${encodeBase64(new Uint8Array(31))}\n`],
      ['root of 33 bytes', `o\n12\n${encodeBase64(new Uint8Array(33))}\n`],
      ['hex root', `o\n12\n${toHex(decodeBase64(root))}\n`],
      ['carriage return', `o\r\n12\n${root}\n`],
      ['tab', `o\t\n12\n${root}\n`],
      ['lone surrogate', `o\ud800\n12\n${root}\n`],
      ['over-long', `o\n12\n${root}\n${'x'.repeat(128 * 1024)}\n`],
      ['a signed note', `o\n12\n${root}\n\n\u2014 o AAAAAAAA\n`],
    ];
    for (const [what, text] of bad) expect(() => parseCheckpoint(text), what).toThrow(CheckpointFormatError);
  });

  it('refuses to write a checkpoint whose fields would frame another one', () => {
    const rootHash = sha256('x');
    expect(() => formatCheckpoint({ origin: 'evil\n999', size: 1, rootHash })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: '', size: 1, rootHash })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash, extensions: [''] })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash, extensions: ['a\nb'] })).toThrow(
      CheckpointFormatError,
    );
    expect(() => formatCheckpoint({ origin: 'o\u0000', size: 1, rootHash })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: -1, rootHash })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1.5, rootHash })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: rootHash.subarray(1) })).toThrow(
      CheckpointFormatError,
    );
  });
});

describe('signed checkpoints', () => {
  const log = logOf(10);
  const text = formatCheckpoint(checkpointOf(log));
  const signed = sign(text, ORIGIN, logKey);
  const logVerifier = verifierFor(ORIGIN, logKey);

  it('verify with the log key and give back the checkpoint', () => {
    const result = verifyCheckpoint(signed, [logVerifier], { origin: ORIGIN });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.verifiedBy).toEqual([ORIGIN]);
    expect(result.checkpoint.size).toBe(10);
    expect(toHex(result.checkpoint.rootHash)).toBe(toHex(log.root()));
  });

  it('fail when the size, root or origin was changed after signing', () => {
    const otherRoot = encodeBase64(logOf(10, 'other').root());
    const tampered = [
      replaceLine(signed, 1, '11'),
      replaceLine(signed, 1, '9'),
      replaceLine(signed, 2, otherRoot),
      replaceLine(signed, 0, `${ORIGIN}x`),
    ];
    for (const note of tampered) {
      expect(verifyCheckpoint(note, [logVerifier])).toEqual({
        ok: false,
        reason: `signature by ${ORIGIN} does not verify`,
      });
    }
  });

  it('fail when a bit of the signature was flipped, or the key ID no longer names the key', () => {
    const lines = signed.split('\n');
    const signatureLine = lines.length - 2;
    const [dash, name, encoded] = lines[signatureLine]!.split(' ') as [string, string, string];
    const flip = (byte: number) => {
      const bytes = decodeBase64(encoded);
      bytes[byte]! ^= 0x01;
      return replaceLine(signed, signatureLine, `${dash} ${name} ${encodeBase64(bytes)}`);
    };
    expect(verifyCheckpoint(flip(4), [logVerifier])).toMatchObject({ ok: false, reason: /does not verify/ });
    expect(verifyCheckpoint(flip(67), [logVerifier])).toMatchObject({ ok: false, reason: /does not verify/ });
    expect(verifyCheckpoint(flip(0), [logVerifier])).toEqual({ ok: false, reason: 'no signature from a known key' });
  });

  it('ignore signatures from unknown keys but require one known valid signature', () => {
    const stranger = generateEd25519Key();
    const withUnknown = sign(signed, 'witness.example/unknown', stranger);
    expect(verifyCheckpoint(withUnknown, [logVerifier])).toMatchObject({ ok: true, verifiedBy: [ORIGIN] });
    const onlyUnknown = sign(text, 'witness.example/unknown', stranger);
    expect(verifyCheckpoint(onlyUnknown, [logVerifier])).toEqual({
      ok: false,
      reason: 'no signature from a known key',
    });
    // The log's name with another key: an unknown key, so ignored, and nothing known is left.
    const sameName = sign(text, ORIGIN, stranger);
    expect(verifyCheckpoint(sameName, [logVerifier])).toEqual({ ok: false, reason: 'no signature from a known key' });
  });

  it('collect a witness cosignature next to the log signature', () => {
    const cosigned = sign(signed, 'witness.example/w1', witnessKey);
    expect(cosigned.startsWith(signed)).toBe(true);
    const result = verifyCheckpoint(cosigned, [logVerifier, verifierFor('witness.example/w1', witnessKey)]);
    expect(result).toMatchObject({ ok: true, verifiedBy: [ORIGIN, 'witness.example/w1'] });
  });

  it('fail for a checkpoint of another log when the origin is given', () => {
    expect(verifyCheckpoint(signed, [logVerifier], { origin: 'another.example/log' })).toEqual({
      ok: false,
      reason: 'checkpoint is from another log',
    });
  });

  it('fail when the signed text is not a well-formed checkpoint', () => {
    const signer = ed25519NoteSigner(ORIGIN, logKey.publicKey, logKey.sign, sha256);
    const notCheckpoint = signNote(`${ORIGIN}\n010\n${encodeBase64(log.root())}\n`, [signer]);
    expect(verifyCheckpoint(notCheckpoint, [logVerifier])).toEqual({
      ok: false,
      reason: 'tree size is not canonical decimal',
    });
  });

  it('fail for malformed and over-long notes', () => {
    expect(verifyCheckpoint(text, [logVerifier])).toEqual({ ok: false, reason: 'note has no signature block' });
    expect(verifyCheckpoint(signed.slice(0, -1), [logVerifier])).toMatchObject({ ok: false });
    const long = sign(`${text.slice(0, -1)}\n${'x'.repeat(1000)}\n`, ORIGIN, logKey);
    expect(verifyCheckpoint(long, [logVerifier], { limits: { maxNoteBytes: 1000, maxSignatures: 100 } })).toEqual({
      ok: false,
      reason: 'note is too long',
    });
  });

  it('are not produced for malformed checkpoints or by non-Ed25519 signing functions', () => {
    expect(() => sign(`${ORIGIN}\n010\n${encodeBase64(log.root())}\n`, ORIGIN, logKey)).toThrow(CheckpointFormatError);
    expect(() => sign(text, 'bad name', logKey)).toThrow();
    expect(() => signCheckpoint(text, ORIGIN, logKey.publicKey, () => new Uint8Array(10), sha256)).toThrow();
    expect(() => sign(signed, ORIGIN, logKey)).toThrow(/already signed/);
  });
});

describe('checkpoints and consistency proofs together', () => {
  it('let a device follow a growing log and detect a rewritten one', () => {
    const verifier = verifierFor(ORIGIN, logKey);
    const server = logOf(5);
    const first = verifyCheckpoint(sign(formatCheckpoint(checkpointOf(server)), ORIGIN, logKey), [verifier]);
    for (let i = 5; i < 13; i++) server.appendLeaf(`entry ${i}`);
    const second = verifyCheckpoint(sign(formatCheckpoint(checkpointOf(server)), ORIGIN, logKey), [verifier]);
    if (!first.ok || !second.ok) throw new Error('checkpoints must verify');
    const a = first.checkpoint;
    const b = second.checkpoint;
    expect(verifyConsistency(sha256, a.size, b.size, server.consistencyProof(a.size), a.rootHash, b.rootHash)).toBe(
      true,
    );

    // A server that rewrote entry 2 signs a checkpoint of the same size as b, but no proof links it to a.
    const rewritten = new MerkleLog(sha256);
    for (let i = 0; i < 13; i++) rewritten.appendLeaf(i === 2 ? 'entry 2, edited' : `entry ${i}`);
    const forged = verifyCheckpoint(sign(formatCheckpoint(checkpointOf(rewritten)), ORIGIN, logKey), [verifier]);
    if (!forged.ok) throw new Error('the forged checkpoint is validly signed');
    const proof = rewritten.consistencyProof(a.size);
    expect(verifyConsistency(sha256, a.size, 13, proof, a.rootHash, forged.checkpoint.rootHash)).toBe(false);
  });
});
