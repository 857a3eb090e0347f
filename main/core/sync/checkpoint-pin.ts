/**
 * Pinning the sync server's audit log (docs/sync-protocol.md, "Checkpoint pinning"). The
 * device keeps the server's checkpoint verifier key (pinned at enrollment) and the latest signed
 * checkpoint (C2SP tlog-checkpoint) it verified. Every newer checkpoint must carry a valid
 * signature by the pinned key and be proven an extension of the pinned one by an RFC 9162
 * consistency proof; one of this device's own leaves must stay included, with the same leaf
 * hash. A server whose log shrank, changed its root for a size, or cannot prove consistency is
 * refused for good: the refusal is stored and audited in one transaction, reported to the server
 * (`POST /v1/audit/pinned`, which records it as a security event there too), and every later
 * round stops before talking to that server. sync.status names it: `SERVER_LOG_LOST_ENTRIES` for
 * a log smaller than the one this device verified (entries it saw are gone, issue #11 finding 5),
 * `SERVER_LOG_INCONSISTENT` for one that no longer extends it (rewritten, forked, or not signed
 * by the pinned key). Each round also reports the pinned checkpoint while all is well, so the
 * server learns of a cut-off log from a device that saw the larger one.
 */
import { createPublicKey, verify } from 'node:crypto';
import { Base64Error, decodeBase64 } from '../../../shared/merkle/base64.js';
import { type ParsedCheckpoint, parseCheckpoint, verifyCheckpoint } from '../../../shared/merkle/checkpoint.js';
import { NoteFormatError, ed25519NoteVerifier, parseEd25519VerifierKey } from '../../../shared/merkle/signed-note.js';
import { parseSignedNote } from '../../../shared/merkle/signed-note.js';
import { verifyConsistency, verifyInclusion } from '../../../shared/merkle/verify.js';
import type { AuditLog, DeviceIdentity } from '../audit/audit-log.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import { nodeSha256 } from '../platform/node-hashing.js';
import {
  type CheckpointAnswer,
  type LogRefusalReason,
  auditConsistencyProof,
  auditInclusionProof,
  auditReportPinned,
} from '../../../shared/sync/wire/audit.js';
import type { EnrollCheckpoint } from '../../../shared/sync/wire/devices.js';
import type { AnySyncRoute, SyncRouteAnswer, SyncRouteInput } from '../../../shared/sync/wire/route.js';
import { SyncRequestError } from './sync-http.js';

/** The error code of a round against a server whose log no longer extends what this device verified. */
export const SERVER_LOG_INCONSISTENT = 'SERVER_LOG_INCONSISTENT';
/** The error code of a round against a server whose log went back below what this device verified. */
export const SERVER_LOG_LOST_ENTRIES = 'SERVER_LOG_LOST_ENTRIES';

/** The round's error code for a stored refusal reason. */
export function serverLogRefusalCode(reason: string): string {
  return reason === 'rollback' ? SERVER_LOG_LOST_ENTRIES : SERVER_LOG_INCONSISTENT;
}

/** The checkpoint origin and verifier key the server names at enrollment. */
export { type EnrollCheckpoint, enrollCheckpointSchema } from '../../../shared/sync/wire/devices.js';
/** A checkpoint as the server's audit routes answer it. */
export { type CheckpointAnswer, checkpointAnswerSchema } from '../../../shared/sync/wire/audit.js';

/** Calls one route of the server with the round's token (and the engine's retries); returns its parsed answer. */
export type ServerRequest = <Route extends AnySyncRoute>(
  route: Route,
  input: SyncRouteInput<Route>,
) => Promise<SyncRouteAnswer<Route>>;

interface PinRow {
  origin: string;
  verifier_key: string | null;
  pinned_via: 'enrollment' | 'first-contact';
  size: number | null;
  root_hash: Buffer | null;
  own_leaf_index: number | null;
  own_leaf_hash: Buffer | null;
  note: string | null;
  refused_reason: string | null;
}

/** The stored pin, or undefined before enrollment stored one (and before first contact). */
export function readCheckpointPin(db: ReadDb): PinRow | undefined {
  return db
    .query<PinRow>(
      `SELECT origin, verifier_key, pinned_via, size, root_hash, own_leaf_index, own_leaf_hash, note, refused_reason
       FROM sync_checkpoint`,
    )
    .get();
}

/**
 * Stores the checkpoint origin and verifier key the server named at enrollment, in the caller's
 * transaction (sync.connect, setup.joinClinic). A server that named none (older than the audit
 * routes) leaves the pin to the first checkpoint the device sees.
 */
export function pinCheckpointKey(db: WriteDb, checkpoint: EnrollCheckpoint | undefined, now: number): void {
  if (!checkpoint) return;
  db.command(
    `INSERT INTO sync_checkpoint (origin, verifier_key, pinned_via, pinned_at) VALUES (?, ?, 'enrollment', ?)
     ON CONFLICT (singleton) DO UPDATE SET origin = excluded.origin, verifier_key = excluded.verifier_key,
       pinned_via = excluded.pinned_via, pinned_at = excluded.pinned_at`,
  ).run([checkpoint.origin, checkpoint.verifierKey, now]);
}

/** Throws SERVER_LOG_LOST_ENTRIES or SERVER_LOG_INCONSISTENT when this device has refused its server's log. */
export function assertServerLogTrusted(db: ReadDb): void {
  const refused = readCheckpointPin(db)?.refused_reason;
  if (refused) throw new SyncRequestError(200, serverLogRefusalCode(refused));
}

/** Everything checking a checkpoint needs. */
export interface CheckpointContext {
  readonly db: WriteDb;
  readonly request: ServerRequest;
  readonly serverClinicId: string;
  readonly device: DeviceIdentity;
  readonly audit: AuditLog;
  readonly now: () => number;
}

/** The origin of a clinic log's checkpoints (the server's `clinicLogOrigin`). */
export function clinicLogOrigin(serverClinicId: string): string {
  return `chairside/clinic-audit/${serverClinicId}`;
}

/**
 * Checks a checkpoint the server presented (after an audit push, or fetched each round) against
 * the pin and stores it as the latest verified one; `ownLeafIndex` is a leaf of this device's
 * just acknowledged by the server. Refuses the server (and throws) when the log was rewritten
 * or rolled back.
 */
export async function verifyServerCheckpoint(
  context: CheckpointContext,
  answer: CheckpointAnswer,
  ownLeafIndex: number | null = null,
): Promise<void> {
  const { db } = context;
  let pin = readCheckpointPin(db);
  if (pin?.refused_reason) throw new SyncRequestError(200, serverLogRefusalCode(pin.refused_reason));
  if (!pin) {
    // Connected before enrollment answers were kept: trust on first use. Later checkpoints are
    // still held to consistency with this one; only their signatures go unchecked.
    writeInTransaction(db, () =>
      db
        .command(
          `INSERT INTO sync_checkpoint (origin, verifier_key, pinned_via, pinned_at)
           VALUES (?, NULL, 'first-contact', ?)`,
        )
        .run([clinicLogOrigin(context.serverClinicId), context.now()]),
    );
    pin = readCheckpointPin(db)!;
  }
  const opened = openCheckpoint(pin, answer);
  if (typeof opened === 'string') return refuse(context, pin, opened, answer.size);
  const checkpoint = opened;

  if (pin.size !== null && pin.root_hash !== null) {
    const trustedRoot = new Uint8Array(pin.root_hash);
    if (checkpoint.size < pin.size) return refuse(context, pin, 'rollback', checkpoint.size);
    if (checkpoint.size > pin.size) {
      const proof = await fetchProof(context, auditConsistencyProof, {
        query: { from: pin.size, to: checkpoint.size },
      });
      if (proof === null || proof.from !== pin.size || proof.to !== checkpoint.size) {
        return refuse(context, pin, 'consistency', checkpoint.size);
      }
      if (!verifyConsistency(nodeSha256, pin.size, checkpoint.size, proof.proof, trustedRoot, checkpoint.rootHash)) {
        return refuse(context, pin, 'consistency', checkpoint.size);
      }
    } else if (!bytesEqual(trustedRoot, checkpoint.rootHash)) {
      return refuse(context, pin, 'root-changed', checkpoint.size);
    } else if (pin.own_leaf_index !== null || ownLeafIndex === null) {
      // The checkpoint already verified, own leaf included: nothing new to prove.
      return;
    }
  }

  // One of this device's own leaves must stay in the log, unchanged.
  const leafIndex = pin.own_leaf_index ?? ownLeafIndex;
  let leafHash: Uint8Array | null = pin.own_leaf_hash === null ? null : new Uint8Array(pin.own_leaf_hash);
  if (leafIndex !== null && leafIndex < checkpoint.size) {
    const proof = await fetchProof(context, auditInclusionProof, {
      query: { index: leafIndex, size: checkpoint.size },
    });
    const served = proof === null ? null : decodeHash(proof.leafHash);
    if (proof === null || served === null || proof.index !== leafIndex || proof.size !== checkpoint.size) {
      return refuse(context, pin, 'inclusion', checkpoint.size);
    }
    if (leafHash !== null && !bytesEqual(leafHash, served)) {
      return refuse(context, pin, 'own-leaf-changed', checkpoint.size);
    }
    if (!verifyInclusion(nodeSha256, served, leafIndex, checkpoint.size, proof.proof, checkpoint.rootHash)) {
      return refuse(context, pin, 'inclusion', checkpoint.size);
    }
    leafHash = served;
  }

  writeInTransaction(db, () =>
    db
      .command(
        `UPDATE sync_checkpoint SET size = ?, root_hash = ?, note = ?, verified_at = ?, own_leaf_index = ?,
           own_leaf_hash = ?`,
      )
      .run([
        checkpoint.size,
        Buffer.from(checkpoint.rootHash),
        answer.note,
        context.now(),
        leafHash === null ? null : leafIndex,
        leafHash === null ? null : Buffer.from(leafHash),
      ]),
  );
}

/** The checkpoint inside the note, checked against the pin; or why it is refused. */
function openCheckpoint(pin: PinRow, answer: CheckpointAnswer): ParsedCheckpoint | LogRefusalReason {
  let checkpoint: ParsedCheckpoint;
  if (pin.verifier_key === null) {
    try {
      checkpoint = parseCheckpoint(parseSignedNote(answer.note).text);
    } catch {
      return 'malformed-checkpoint';
    }
    if (checkpoint.origin !== pin.origin) return 'other-log';
  } else {
    let key: ReturnType<typeof parseEd25519VerifierKey>;
    try {
      key = parseEd25519VerifierKey(nodeSha256, pin.verifier_key);
    } catch (error) {
      if (error instanceof NoteFormatError) return 'bad-pinned-key';
      throw error;
    }
    const verifier = ed25519NoteVerifier(key.keyName, key.publicKey, verifyEd25519, nodeSha256);
    const verified = verifyCheckpoint(answer.note, [verifier], { origin: pin.origin });
    if (!verified.ok) return 'signature';
    checkpoint = verified.checkpoint;
  }
  // The plain fields beside the note must say what the signed note says.
  const root = decodeHash(answer.rootHash);
  if (checkpoint.size !== answer.size || root === null || !bytesEqual(root, checkpoint.rootHash)) {
    return 'answer-disagrees-with-note';
  }
  return checkpoint;
}

/** Fetches a proof; a proof the server cannot give (404) or an unreadable one is null. */
async function fetchProof<Route extends typeof auditConsistencyProof | typeof auditInclusionProof>(
  context: CheckpointContext,
  route: Route,
  input: SyncRouteInput<Route>,
): Promise<(Omit<SyncRouteAnswer<Route>, 'proof'> & { proof: Uint8Array[] }) | null> {
  let answer: SyncRouteAnswer<Route>;
  try {
    answer = await context.request(route, input);
  } catch (failure) {
    // A log that cannot prove what it just signed, or answers a proof of another shape, is as
    // bad as a failing proof; network trouble is not, and ends the round as usual.
    if (failure instanceof SyncRequestError && (failure.status === 404 || unreadableAnswer(failure))) return null;
    throw failure;
  }
  const proof: Uint8Array[] = [];
  for (const item of answer.proof) {
    const hash = decodeHash(item);
    if (hash === null) return null;
    proof.push(hash);
  }
  return { ...answer, proof };
}

/** A successful status whose body is not the declared answer (not a proxy's error page, which is retried). */
function unreadableAnswer(failure: SyncRequestError): boolean {
  return failure.code === 'BAD_ANSWER' && failure.status !== null && failure.status >= 200 && failure.status < 300;
}

/**
 * Stores the refusal with a security audit entry in one transaction, reports it to the server
 * (best effort: the device's own record is what counts), then fails the round.
 */
async function refuse(context: CheckpointContext, pin: PinRow, reason: LogRefusalReason, size: number): Promise<never> {
  const { db } = context;
  const trustedSize = pin.size;
  writeInTransaction(db, () => {
    db.command('UPDATE sync_checkpoint SET refused_reason = ?, refused_at = ?').run([reason, context.now()]);
    context.audit.append(db, context.device, {
      userId: null,
      role: null,
      action: 'sync.serverLogRefused',
      entityType: 'clinic',
      entityId: null,
      outcome: 'error',
      purpose: 'security',
      legalBasis: 'legal-obligation',
      details: { reason, size, trustedSize, lostEntries: reason === 'rollback' },
    });
  });
  await reportPinned(context, pin.note, reason, size);
  throw new SyncRequestError(200, serverLogRefusalCode(reason));
}

/**
 * Reports the highest checkpoint this device pinned to the server, at the end of every round
 * whose checks passed, so a server whose log was cut below it records that as a security event.
 * Best effort: an older server without the route, or a lost answer, changes nothing here.
 */
export async function reportPinnedCheckpoint(context: CheckpointContext): Promise<void> {
  const pin = readCheckpointPin(context.db);
  if (!pin?.note || pin.refused_reason) return;
  await reportPinned(context, pin.note, null, null);
}

async function reportPinned(
  context: CheckpointContext,
  note: string | null,
  refusal: LogRefusalReason | null,
  refusedSize: number | null,
): Promise<void> {
  try {
    await context.request(auditReportPinned, { body: { pinned: note, refusal, refusedSize } });
  } catch (failure) {
    if (!(failure instanceof SyncRequestError)) throw failure;
  }
}

function writeInTransaction(db: WriteDb, write: () => void): void {
  if (db.inTransaction) write();
  else {
    db.setSynchronous('FULL');
    db.transaction(write);
  }
}

function decodeHash(text: string): Uint8Array | null {
  try {
    const bytes = decodeBase64(text);
    return bytes.length === 32 ? bytes : null;
  } catch (error) {
    if (error instanceof Base64Error) return null;
    throw error;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw 32-byte key follows.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function verifyEd25519(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  const key = createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
    format: 'der',
    type: 'spki',
  });
  return verify(null, message, key, signature);
}
