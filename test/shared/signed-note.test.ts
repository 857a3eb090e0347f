import { describe, expect, it } from 'vitest';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { decodeBase64, encodeBase64 } from '../../shared/merkle/base64.js';
import { encodeUtf8 } from '../../shared/merkle/utf8.js';
import {
  type NoteSigner,
  type NoteVerifier,
  NoteFormatError,
  cosignNote,
  ed25519KeyId,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatEd25519VerifierKey,
  formatSignatureLine,
  openNote,
  parseEd25519VerifierKey,
  parseSignedNote,
  signNote,
} from '../../shared/merkle/signed-note.js';
import { type Ed25519TestKey, ed25519KeyFromSeed, generateEd25519Key, verifyEd25519 } from './ed25519.js';

// Known-answer vectors of Go's golang.org/x/mod/sumdb/note (note_test.go and its package example),
// the reference implementation of C2SP signed-note: keys, key IDs and byte-exact signed notes.
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIGNER_KEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VERIFIER_KEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SIGNATURE =
  '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
// The example derives EnochRoot's key from an all-zero seed.
const ENOCH_VERIFIER_KEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const ENOCH_SIGNATURE =
  '\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

const sha256 = nodeSha256;
const peterKey = ed25519KeyFromSeed(decodeBase64(PETER_SIGNER_KEY.split('+').slice(4).join('+')).subarray(1));
const enochKey = ed25519KeyFromSeed(new Uint8Array(32));

function signer(name: string, key: Ed25519TestKey): NoteSigner {
  return ed25519NoteSigner(name, key.publicKey, key.sign, sha256);
}

function verifier(name: string, key: Ed25519TestKey): NoteVerifier {
  return ed25519NoteVerifier(name, key.publicKey, verifyEd25519, sha256);
}

const peter = { signer: signer('PeterNeumann', peterKey), verifier: verifier('PeterNeumann', peterKey) };
const enoch = { signer: signer('EnochRoot', enochKey), verifier: verifier('EnochRoot', enochKey) };

describe('signed notes against Go sumdb/note known answers', () => {
  it('derives the published key IDs and verifier keys', () => {
    expect(ed25519KeyId(sha256, 'PeterNeumann', peterKey.publicKey)).toBe(0xc74f20a3);
    expect(ed25519KeyId(sha256, 'EnochRoot', enochKey.publicKey)).toBe(0xaf0cfe78);
    expect(formatEd25519VerifierKey(sha256, 'PeterNeumann', peterKey.publicKey)).toBe(PETER_VERIFIER_KEY);
    expect(formatEd25519VerifierKey(sha256, 'EnochRoot', enochKey.publicKey)).toBe(ENOCH_VERIFIER_KEY);
    const parsed = parseEd25519VerifierKey(sha256, PETER_VERIFIER_KEY);
    expect(parsed).toMatchObject({ keyName: 'PeterNeumann', keyId: 0xc74f20a3 });
    expect(parsed.publicKey).toEqual(peterKey.publicKey);
  });

  it('signs byte for byte as Go does, alone and together', () => {
    const single = `${GO_TEXT}\n${PETER_SIGNATURE}`;
    const double = `${GO_TEXT}\n${PETER_SIGNATURE}${ENOCH_SIGNATURE}`;
    expect(signNote(GO_TEXT, [peter.signer])).toBe(single);
    expect(signNote(GO_TEXT, [peter.signer, enoch.signer])).toBe(double);
    expect(cosignNote(single, enoch.signer)).toBe(double);
  });

  it('opens the published notes with verifiers built from the published verifier keys', () => {
    const fromKey = (vkey: string) => {
      const { keyName, publicKey } = parseEd25519VerifierKey(sha256, vkey);
      return ed25519NoteVerifier(keyName, publicKey, verifyEd25519, sha256);
    };
    const double = `${GO_TEXT}\n${PETER_SIGNATURE}${ENOCH_SIGNATURE}`;
    const opened = openNote(double, [fromKey(PETER_VERIFIER_KEY), fromKey(ENOCH_VERIFIER_KEY)]);
    expect(opened).toMatchObject({ ok: true, text: GO_TEXT });
    expect(opened.ok && opened.verifiedBy.map((s) => s.keyName)).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(openNote(double.replace('cryptography', 'cryptographY'), [fromKey(PETER_VERIFIER_KEY)]).ok).toBe(false);
  });
});

describe('openNote', () => {
  const double = signNote(GO_TEXT, [peter.signer, enoch.signer]);

  it('ignores signatures of unknown keys but needs one known key to verify', () => {
    expect(openNote(double, [peter.verifier])).toMatchObject({ ok: true });
    expect(openNote(double, [])).toEqual({ ok: false, reason: 'no signature from a known key' });
    const stranger = verifier('Stranger', generateEd25519Key());
    expect(openNote(double, [stranger])).toEqual({ ok: false, reason: 'no signature from a known key' });
  });

  it('ignores a signature whose name matches a known key but whose key ID does not', () => {
    const impostor = generateEd25519Key();
    const note = signNote(GO_TEXT, [signer('PeterNeumann', impostor), enoch.signer]);
    expect(openNote(note, [peter.verifier])).toEqual({ ok: false, reason: 'no signature from a known key' });
    const opened = openNote(note, [peter.verifier, enoch.verifier]);
    expect(opened.ok && opened.verifiedBy.map((s) => s.keyName)).toEqual(['EnochRoot']);
  });

  it('rejects the whole note when a known key signature fails, even if another verified', () => {
    const lines = double.split('\n');
    const enochLine = lines.findIndex((line) => line.startsWith('\u2014 EnochRoot '));
    const bytes = decodeBase64(lines[enochLine]!.split(' ')[2]!);
    bytes[10]! ^= 1;
    lines[enochLine] = `\u2014 EnochRoot ${encodeBase64(bytes)}`;
    const tampered = lines.join('\n');
    expect(openNote(tampered, [peter.verifier])).toMatchObject({ ok: true });
    expect(openNote(tampered, [peter.verifier, enoch.verifier])).toEqual({
      ok: false,
      reason: 'signature by EnochRoot does not verify',
    });
  });

  it('verifies every repeated signature of a known key instead of skipping repeats', () => {
    const valid = signNote(GO_TEXT, [peter.signer]);
    const repeated = valid + PETER_SIGNATURE;
    expect(openNote(repeated, [peter.verifier])).toMatchObject({ ok: true });
    const badRepeat = `${valid}\u2014 PeterNeumann ${encodeBase64(Uint8Array.of(0xc7, 0x4f, 0x20, 0xa3, ...new Uint8Array(64)))}\n`;
    expect(openNote(badRepeat, [peter.verifier])).toMatchObject({ ok: false });
  });

  it('counts a verifier that throws as a failed signature', () => {
    const throwing: NoteVerifier = {
      ...peter.verifier,
      verify: () => {
        throw new Error('hostile input');
      },
    };
    expect(openNote(double, [throwing])).toMatchObject({ ok: false });
  });

  it('refuses two verifiers with one key name and ID as a setup error', () => {
    expect(() => openNote(double, [peter.verifier, { ...peter.verifier }])).toThrow(/share the key name/);
  });

  it('refuses malformed notes with the reason', () => {
    const sig = PETER_SIGNATURE;
    const cases: Array<[string, string]> = [
      ['', 'note text does not end with a newline'],
      [GO_TEXT + sig.slice(0, -1), 'note text does not end with a newline'],
      [GO_TEXT + sig, 'note has no signature block'],
      [`${GO_TEXT}\n`, 'note has no signatures'],
      [`${GO_TEXT}\n${sig.replace('\u2014', '-')}`, 'malformed signature line'],
      [`${GO_TEXT}\n${sig.replace('\u2014 ', '\u2014')}`, 'malformed signature line'],
      [`${GO_TEXT}\n\u2014 PeterNeumann\n`, 'malformed signature line'],
      [`${GO_TEXT}\n${sig.replace('PeterNeumann', 'Peter+Neumann')}`, 'invalid key name in a signature line'],
      [`${GO_TEXT}\n${sig.replace('PeterNeumann', 'Peter\u00a0Neumann')}`, 'invalid key name in a signature line'],
      [`${GO_TEXT}\n${sig.replace('PeterNeumann', 'Peter\u3000Neumann')}`, 'invalid key name in a signature line'],
      [`${GO_TEXT}\n${sig.replace('PeterNeumann ', 'PeterNeumann  ')}`, 'signature is not valid base64'],
      [`${GO_TEXT}\n${sig.replace('AM=', 'AM')}`, 'signature is not valid base64'],
      [`${GO_TEXT}\n\u2014 PeterNeumann x08g\n`, 'signature is too short'],
      [`${GO_TEXT.replace('\n', '\r\n')}\n${sig}`, 'note has a control character'],
      [`${GO_TEXT.replace(' ', '\t')}\n${sig}`, 'note has a control character'],
      [`${GO_TEXT.replace('If', '\ud800')}\n${sig}`, 'note is not valid UTF-8'],
      [`${GO_TEXT}\n${sig}\n`, 'note has no signatures'],
    ];
    for (const [note, reason] of cases) {
      expect(openNote(note, [peter.verifier]), JSON.stringify(note)).toEqual({ ok: false, reason });
    }
  });

  it('accepts at least 16 signatures but refuses more than the limit, and over-long notes', () => {
    const others = Array.from({ length: 15 }, (_, i) => signer(`witness-${i}`, generateEd25519Key()));
    expect(openNote(signNote(GO_TEXT, [peter.signer, ...others]), [peter.verifier])).toMatchObject({ ok: true });
    const many = signNote(GO_TEXT, [peter.signer]) + PETER_SIGNATURE.repeat(100);
    expect(openNote(many, [peter.verifier])).toEqual({ ok: false, reason: 'note has too many signatures' });
    // signNote itself refuses to produce a note over the limit, so the signature is made by hand.
    const longText = `${'x'.repeat(128 * 1024)}\n`;
    const signature = peterKey.sign(encodeUtf8(longText));
    const long = `${longText}\n${formatSignatureLine({ keyName: 'PeterNeumann', keyId: 0xc74f20a3, signature })}`;
    expect(openNote(long, [peter.verifier])).toEqual({ ok: false, reason: 'note is too long' });
    expect(openNote(long, [peter.verifier], { maxNoteBytes: 256 * 1024, maxSignatures: 100 })).toMatchObject({
      ok: true,
    });
  });

  it('keeps blank lines inside the text: the text ends at the last blank line', () => {
    const text = 'first paragraph\n\nsecond paragraph\n';
    const note = signNote(text, [peter.signer]);
    expect(parseSignedNote(note).text).toBe(text);
    expect(openNote(note, [peter.verifier])).toMatchObject({ ok: true, text });
  });
});

describe('note signing', () => {
  it('refuses a text without a final newline, a second signature by one key, and invalid key names', () => {
    expect(() => signNote('no newline', [peter.signer])).toThrow(NoteFormatError);
    expect(() => signNote(`${'x'.repeat(128 * 1024)}\n`, [peter.signer])).toThrow(/too long/);
    expect(() => signNote(GO_TEXT, [])).toThrow(NoteFormatError);
    expect(() => signNote(GO_TEXT, [peter.signer, peter.signer])).toThrow(/already signed/);
    expect(() => cosignNote(signNote(GO_TEXT, [peter.signer]), peter.signer)).toThrow(/already signed/);
    for (const name of ['', 'a b', 'a+b', 'a\u2003b']) {
      expect(() => signer(name, peterKey), JSON.stringify(name)).toThrow(NoteFormatError);
    }
  });

  it('refuses an injected signing function that does not return an Ed25519 signature', () => {
    const broken = ed25519NoteSigner('Broken', peterKey.publicKey, () => new Uint8Array(63), sha256);
    expect(() => signNote(GO_TEXT, [broken])).toThrow(/not an Ed25519 signature/);
  });

  it('refuses malformed verifier keys', () => {
    const bad = [
      PETER_VERIFIER_KEY.replace('c74f20a3', 'c74f20a4'),
      PETER_VERIFIER_KEY.replace('c74f20a3', 'c74f20a'),
      PETER_VERIFIER_KEY.replace('+ARpc', '+AhpC'),
      PETER_VERIFIER_KEY.replace('PeterNeumann', 'Peter Neumann'),
      PETER_VERIFIER_KEY.slice(0, -4),
      'PeterNeumann+c74f20a3',
      `PeterNeumann+c74f20a3+${encodeBase64(Uint8Array.of(2, ...peterKey.publicKey))}`,
    ];
    for (const vkey of bad) expect(() => parseEd25519VerifierKey(sha256, vkey), vkey).toThrow(NoteFormatError);
  });
});
