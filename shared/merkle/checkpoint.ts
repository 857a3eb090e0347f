/**
 * Transparency log checkpoints after C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): a
 * signed note (see signed-note.ts) whose text is
 *
 *   <origin>\n<tree size, decimal, no leading zeros>\n<base64 of the RFC 6962 root>\n[extension lines]
 *
 * The sync server publishes one per clinic log; devices keep the last one they verified and check
 * a consistency proof to each newer one, so a rewritten or rolled-back log is detected.
 *
 * Parsing is strict and never guesses: every line non-empty, the text ending in a newline,
 * the size in canonical decimal, the root canonical base64 of exactly 32 bytes. Deviation: tree
 * sizes are JS numbers, so sizes above 2^53 - 1 (valid uint64 values) are refused; a clinic log
 * stays far below that.
 */
import type { Sha256 } from '../hashing.js';
import { Base64Error, decodeBase64, encodeBase64 } from './base64.js';
import {
  DEFAULT_NOTE_LIMITS,
  type NoteLimits,
  NoteFormatError,
  type NoteVerifier,
  checkNoteText,
  cosignNote,
  ed25519NoteSigner,
  openNote,
  parseSignedNote,
  signNote,
} from './signed-note.js';
import { MERKLE_HASH_SIZE } from './tree.js';

/** A log's tree head: who issued it, how many leaves, their root, and optional extension lines. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** Opaque extra lines; the specification discourages them (monitors cannot audit them). */
  readonly extensions?: readonly string[];
}

/** A parsed checkpoint; extensions always present (possibly empty). */
export interface ParsedCheckpoint extends Checkpoint {
  readonly extensions: readonly string[];
}

/** Thrown for a checkpoint text that breaks the format. */
export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
}

/** Outcome of verifying a signed checkpoint. */
export type CheckpointVerification =
  | { readonly ok: true; readonly checkpoint: ParsedCheckpoint; readonly verifiedBy: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** Options of verifyCheckpoint. */
export interface CheckpointVerificationOptions {
  /** The origin the caller expects; a checkpoint of another log is refused. */
  readonly origin?: string;
  readonly limits?: NoteLimits;
}

const SIZE_PATTERN = /^(0|[1-9][0-9]*)$/;

/** The note text of a checkpoint; throws CheckpointFormatError for values that cannot be written. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const extensions = checkpoint.extensions ?? [];
  for (const line of [checkpoint.origin, ...extensions]) {
    if (typeof line !== 'string' || line.length === 0 || line.includes('\n')) {
      throw new CheckpointFormatError('origin and extension lines must be single non-empty lines');
    }
  }
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) {
    throw new CheckpointFormatError('tree size must be an integer >= 0');
  }
  if (!(checkpoint.rootHash instanceof Uint8Array) || checkpoint.rootHash.length !== MERKLE_HASH_SIZE) {
    throw new CheckpointFormatError(`root hash must have ${MERKLE_HASH_SIZE} bytes`);
  }
  const text = [checkpoint.origin, String(checkpoint.size), encodeBase64(checkpoint.rootHash), ...extensions]
    .map((line) => `${line}\n`)
    .join('');
  // Re-parse what we wrote: an origin holding a newline would frame another checkpoint entirely.
  const reparsed = parseCheckpoint(text);
  if (reparsed.origin !== checkpoint.origin || reparsed.extensions.length !== extensions.length) {
    throw new CheckpointFormatError('origin and extension lines must be single non-empty lines');
  }
  return text;
}

/** Parses the text of a checkpoint note (not the signed note; see verifyCheckpoint), strictly. */
export function parseCheckpoint(text: string, limits: NoteLimits = DEFAULT_NOTE_LIMITS): ParsedCheckpoint {
  try {
    checkNoteText(text, limits);
  } catch (error) {
    if (error instanceof NoteFormatError) throw new CheckpointFormatError(error.message);
    throw error;
  }
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointFormatError('checkpoint needs origin, size and root lines');
  if (lines.some((line) => line.length === 0)) {
    throw new CheckpointFormatError('checkpoint has an empty line (pass the note text, not the signed note)');
  }
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!SIZE_PATTERN.test(sizeText)) throw new CheckpointFormatError('tree size is not canonical decimal');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new CheckpointFormatError('tree size is too large');
  let rootHash: Uint8Array;
  try {
    rootHash = decodeBase64(rootText);
  } catch (error) {
    if (error instanceof Base64Error) throw new CheckpointFormatError(`root hash: ${error.message}`);
    throw error;
  }
  if (rootHash.length !== MERKLE_HASH_SIZE)
    throw new CheckpointFormatError(`root hash must have ${MERKLE_HASH_SIZE} bytes`);
  return { origin, size, rootHash, extensions };
}

/**
 * Signs a checkpoint with an Ed25519 key (signing injected): `note` is the checkpoint text, or an
 * already signed checkpoint to which this signature is added (a witness cosigning, a new key).
 */
export function signCheckpoint(
  note: string,
  keyName: string,
  publicKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array,
  sha256: Sha256,
): string {
  const signer = ed25519NoteSigner(keyName, publicKey, sign, sha256);
  // A checkpoint text has no empty line, so a blank line can only mean signatures follow.
  if (note.includes('\n\n')) {
    parseCheckpoint(parseSignedNote(note).text);
    return cosignNote(note, signer);
  }
  parseCheckpoint(note);
  return signNote(note, [signer]);
}

/**
 * Verifies a signed checkpoint from an untrusted source: signed-note rules (unknown keys ignored,
 * a failing known key rejects, one known key must verify), then the strict checkpoint format.
 */
export function verifyCheckpoint(
  note: string,
  verifiers: readonly NoteVerifier[],
  options: CheckpointVerificationOptions = {},
): CheckpointVerification {
  const limits = options.limits ?? DEFAULT_NOTE_LIMITS;
  const opened = openNote(note, verifiers, limits);
  if (!opened.ok) return opened;
  let checkpoint: ParsedCheckpoint;
  try {
    checkpoint = parseCheckpoint(opened.text, limits);
  } catch (error) {
    if (error instanceof CheckpointFormatError) return { ok: false, reason: error.message };
    throw error;
  }
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    return { ok: false, reason: 'checkpoint is from another log' };
  }
  return { ok: true, checkpoint, verifiedBy: opened.verifiedBy.map((signature) => signature.keyName) };
}
