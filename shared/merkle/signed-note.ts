/**
 * Signed notes after C2SP signed-note v1.0.0 (https://c2sp.org/signed-note, the format of Go's
 * golang.org/x/mod/sumdb/note): a UTF-8 text ending in a newline, a blank line, then signature
 * lines `— <key name> <base64(4-byte big-endian key ID || signature)>` (U+2014 and a space).
 * Ed25519 keys (signature type 0x01) have key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte
 * public key)[:4]. Signing and verifying are injected (shared/ carries no crypto); so is SHA-256.
 *
 * Verification follows the specification's rules: signatures from unknown keys (name and ID
 * not both matching a configured verifier) are ignored; a signature from a known key that fails
 * rejects the whole note (a SHOULD there, always here); at least one known signature must verify.
 * Unlike Go's implementation, a repeated signature from one known key is verified again rather
 * than skipped, since the specification says a known key's signature MUST be verified.
 *
 * Limits (the specification asks for one and for at least 16 signatures to be accepted): a note of
 * at most 128 KiB, which holds 16 signatures of the largest ML-DSA size, and at most 100
 * signatures, Go's limit.
 */
import type { Sha256 } from '../hashing.js';
import { Base64Error, decodeBase64, encodeBase64 } from './base64.js';
import { encodeUtf8, isWellFormedText, utf8Length } from './utf8.js';

/** Signature type byte of Ed25519 note signatures (C2SP signed-note, "Signature types"). */
export const ED25519_SIGNATURE_TYPE = 0x01;

/** Size bounds a parser applies to an untrusted note. */
export interface NoteLimits {
  /** Largest accepted note, text and signatures, in UTF-8 bytes. */
  readonly maxNoteBytes: number;
  /** Most signature lines accepted. */
  readonly maxSignatures: number;
}

/** Bounds used unless a caller passes its own (see the header for why these values). */
export const DEFAULT_NOTE_LIMITS: NoteLimits = { maxNoteBytes: 128 * 1024, maxSignatures: 100 };

/** Thrown for a note that breaks the signed-note format. */
export class NoteFormatError extends Error {
  override readonly name = 'NoteFormatError';
}

/** One signature line of a note, decoded. */
export interface NoteSignature {
  readonly keyName: string;
  /** The key ID as an unsigned 32-bit number. */
  readonly keyId: number;
  /** The signature bytes, without the key ID. */
  readonly signature: Uint8Array;
}

/** A note split into its text (ending in a newline) and its signatures; nothing verified yet. */
export interface SignedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A key that signs note texts. */
export interface NoteSigner {
  readonly keyName: string;
  readonly keyId: number;
  /** Signs the UTF-8 bytes of the note text. */
  sign(message: Uint8Array): Uint8Array;
}

/** A trusted key that checks signatures over note texts. */
export interface NoteVerifier {
  readonly keyName: string;
  readonly keyId: number;
  /** True when `signature` (without the key ID) is this key's signature of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** Outcome of opening a note: its text and the known signatures that verified, or why it failed. */
export type NoteVerification =
  | { readonly ok: true; readonly text: string; readonly verifiedBy: readonly NoteSignature[] }
  | { readonly ok: false; readonly reason: string };

const SIGNATURE_PREFIX = '\u2014 ';
const ED25519_PUBLIC_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
// A key name is non-empty, has no Unicode white space and no '+' (signed-note "Format").
const INVALID_NAME_CHARACTER = /[\p{White_Space}+]/u;

/** True when `name` may be a key name: non-empty, valid text, no Unicode spaces, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && isWellFormedText(name) && !INVALID_NAME_CHARACTER.test(name);
}

/** Checks the rules every note text obeys; throws NoteFormatError. */
export function checkNoteText(text: string, limits: NoteLimits = DEFAULT_NOTE_LIMITS): void {
  if (!isWellFormedText(text)) throw new NoteFormatError('note is not valid UTF-8');
  if (utf8Length(text) > limits.maxNoteBytes) throw new NoteFormatError('note is too long');
  if (hasControlCharacter(text)) throw new NoteFormatError('note has a control character');
  if (!text.endsWith('\n')) throw new NoteFormatError('note text does not end with a newline');
}

/** Splits a signed note into text and decoded signatures, strictly; throws NoteFormatError. */
export function parseSignedNote(note: string, limits: NoteLimits = DEFAULT_NOTE_LIMITS): SignedNote {
  checkNoteText(note, limits);
  // The text ends at the last blank line; the text itself may hold blank lines.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteFormatError('note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) throw new NoteFormatError('note has no signatures');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > limits.maxSignatures) throw new NoteFormatError('note has too many signatures');
  return { text, signatures: lines.map(parseSignatureLine) };
}

/** The signature line for one signature, ending in a newline. */
export function formatSignatureLine(signature: NoteSignature): string {
  if (!isValidKeyName(signature.keyName)) throw new NoteFormatError('invalid key name');
  const bytes = new Uint8Array(4 + signature.signature.length);
  writeUint32(bytes, signature.keyId);
  bytes.set(signature.signature, 4);
  return `${SIGNATURE_PREFIX}${signature.keyName} ${encodeBase64(bytes)}\n`;
}

/** A note of `text` signed by each signer in turn. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkNoteText(text);
  if (signers.length === 0) throw new NoteFormatError('a note needs at least one signature');
  const signed: NoteSignature[] = [];
  let lines = '';
  for (const signer of signers) {
    lines += signatureLine(text, signer, signed);
    signed.push({ keyName: signer.keyName, keyId: signer.keyId, signature: new Uint8Array(0) });
  }
  return `${text}\n${lines}`;
}

/** Adds a signature to an already signed note (a witness cosignature, a rotated key). */
export function cosignNote(note: string, signer: NoteSigner): string {
  const parsed = parseSignedNote(note);
  return note + signatureLine(parsed.text, signer, parsed.signatures);
}

/**
 * Opens an untrusted note: checks its format, verifies every signature of a known key, and
 * returns its text only when at least one of them verified and none failed.
 */
export function openNote(
  note: string,
  verifiers: readonly NoteVerifier[],
  limits: NoteLimits = DEFAULT_NOTE_LIMITS,
): NoteVerification {
  const known = verifierIndex(verifiers);
  let parsed: SignedNote;
  try {
    parsed = parseSignedNote(note, limits);
  } catch (error) {
    if (error instanceof NoteFormatError) return { ok: false, reason: error.message };
    throw error;
  }
  const message = encodeUtf8(parsed.text);
  const verifiedBy: NoteSignature[] = [];
  for (const signature of parsed.signatures) {
    const verifier = known.get(verifierKey(signature.keyName, signature.keyId));
    if (!verifier) continue;
    if (!safeVerify(verifier, message, signature.signature)) {
      return { ok: false, reason: `signature by ${signature.keyName} does not verify` };
    }
    verifiedBy.push(signature);
  }
  if (verifiedBy.length === 0) return { ok: false, reason: 'no signature from a known key' };
  return { ok: true, text: parsed.text, verifiedBy };
}

/** The key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key), first 4 bytes. */
export function ed25519KeyId(sha256: Sha256, keyName: string, publicKey: Uint8Array): number {
  checkEd25519Key(keyName, publicKey);
  return readUint32(sha256(keyName, '\n', Uint8Array.of(ED25519_SIGNATURE_TYPE), publicKey));
}

/** A NoteSigner for an Ed25519 key whose signing function is injected (node:crypto in main). */
export function ed25519NoteSigner(
  keyName: string,
  publicKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array,
  sha256: Sha256,
): NoteSigner {
  const keyId = ed25519KeyId(sha256, keyName, publicKey);
  return {
    keyName,
    keyId,
    sign(message) {
      const signature = sign(message);
      // A wrong length means the injected function is not Ed25519; never publish such a line.
      if (signature.length !== ED25519_SIGNATURE_SIZE) throw new NoteFormatError('not an Ed25519 signature');
      return signature;
    },
  };
}

/** A NoteVerifier for an Ed25519 public key whose check is injected (node:crypto in main). */
export function ed25519NoteVerifier(
  keyName: string,
  publicKey: Uint8Array,
  verify: (message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array) => boolean,
  sha256: Sha256,
): NoteVerifier {
  const keyId = ed25519KeyId(sha256, keyName, publicKey);
  const key = publicKey.slice();
  return {
    keyName,
    keyId,
    verify: (message, signature) => signature.length === ED25519_SIGNATURE_SIZE && verify(message, signature, key),
  };
}

/** The verifier key text `<name>+<8 hex key ID>+<base64(0x01 || public key)>` Go's note tools use. */
export function formatEd25519VerifierKey(sha256: Sha256, keyName: string, publicKey: Uint8Array): string {
  const keyId = ed25519KeyId(sha256, keyName, publicKey);
  const typed = new Uint8Array(1 + ED25519_PUBLIC_KEY_SIZE);
  typed[0] = ED25519_SIGNATURE_TYPE;
  typed.set(publicKey, 1);
  return `${keyName}+${keyId.toString(16).padStart(8, '0')}+${encodeBase64(typed)}`;
}

/**
 * Reads an Ed25519 verifier key text (see formatEd25519VerifierKey) into its name and public
 * key; throws NoteFormatError when malformed, of another type, or when its key ID is wrong.
 */
export function parseEd25519VerifierKey(
  sha256: Sha256,
  verifierKey: string,
): { readonly keyName: string; readonly keyId: number; readonly publicKey: Uint8Array } {
  // The name has no '+', the hex ID has none; the base64 may, so split on the first two only.
  const first = verifierKey.indexOf('+');
  const second = verifierKey.indexOf('+', first + 1);
  if (first < 0 || second < 0) throw new NoteFormatError('malformed verifier key');
  const keyName = verifierKey.slice(0, first);
  const hex = verifierKey.slice(first + 1, second);
  let typed: Uint8Array;
  try {
    typed = decodeBase64(verifierKey.slice(second + 1));
  } catch (error) {
    if (error instanceof Base64Error) throw new NoteFormatError('malformed verifier key');
    throw error;
  }
  if (!isValidKeyName(keyName) || !/^[0-9a-f]{8}$/.test(hex)) throw new NoteFormatError('malformed verifier key');
  if (typed.length !== 1 + ED25519_PUBLIC_KEY_SIZE || typed[0] !== ED25519_SIGNATURE_TYPE) {
    throw new NoteFormatError('not an Ed25519 verifier key');
  }
  const publicKey = typed.slice(1);
  const keyId = ed25519KeyId(sha256, keyName, publicKey);
  if (keyId !== Number.parseInt(hex, 16)) throw new NoteFormatError('verifier key ID does not match the key');
  return { keyName, keyId, publicKey };
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteFormatError('malformed signature line');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space < 0) throw new NoteFormatError('malformed signature line');
  const keyName = rest.slice(0, space);
  if (!isValidKeyName(keyName)) throw new NoteFormatError('invalid key name in a signature line');
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(rest.slice(space + 1));
  } catch (error) {
    if (error instanceof Base64Error) throw new NoteFormatError('signature is not valid base64');
    throw error;
  }
  if (bytes.length < 5) throw new NoteFormatError('signature is too short');
  return { keyName, keyId: readUint32(bytes), signature: bytes.slice(4) };
}

function signatureLine(text: string, signer: NoteSigner, existing: readonly NoteSignature[]): string {
  if (existing.some((s) => s.keyName === signer.keyName && s.keyId === signer.keyId)) {
    throw new NoteFormatError(`note is already signed by ${signer.keyName}`);
  }
  const signature = signer.sign(encodeUtf8(text));
  if (signature.length === 0) throw new NoteFormatError('empty signature');
  return formatSignatureLine({ keyName: signer.keyName, keyId: signer.keyId, signature });
}

function verifierIndex(verifiers: readonly NoteVerifier[]): Map<string, NoteVerifier> {
  const index = new Map<string, NoteVerifier>();
  for (const verifier of verifiers) {
    const key = verifierKey(verifier.keyName, verifier.keyId);
    // Two trusted keys with one name and ID would make "the" known key ambiguous: a setup error.
    if (index.has(key)) throw new Error(`two verifiers share the key name ${verifier.keyName} and its key ID`);
    index.set(key, verifier);
  }
  return index;
}

// Key names hold no newline, so this joins name and ID unambiguously.
function verifierKey(keyName: string, keyId: number): string {
  return `${keyName}\n${keyId}`;
}

// An injected verifier that throws on hostile input counts as a failed signature, not a crash.
function safeVerify(verifier: NoteVerifier, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verifier.verify(message, signature) === true;
  } catch {
    return false;
  }
}

function checkEd25519Key(keyName: string, publicKey: Uint8Array): void {
  if (!isValidKeyName(keyName)) throw new NoteFormatError('invalid key name');
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) throw new NoteFormatError('an Ed25519 public key has 32 bytes');
}

// ASCII control characters other than the newline are forbidden anywhere in a note.
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && code !== 0x0a) return true;
  }
  return false;
}

function readUint32(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

function writeUint32(bytes: Uint8Array, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new NoteFormatError('invalid key ID');
  bytes[0] = value >>> 24;
  bytes[1] = (value >>> 16) & 255;
  bytes[2] = (value >>> 8) & 255;
  bytes[3] = value & 255;
}
