/**
 * `audit verify --clinic ID`: recomputes a clinic's consolidated audit log from what the storage
 * holds and checks it against the server's own signed statement about it, so an operator (or a
 * restore) can tell a log that is intact from one that was edited, truncated or rolled back.
 *
 * 1. Every device chain, entry by entry with shared/audit-chain.ts: sequence, link to the
 *    previous hash, the hash over the stored canonical body, and the stored chain head.
 * 2. Every entry's Merkle leaf recomputed (storage/audit-append.ts) and compared with the stored
 *    leaf hash at its index; leaf indexes run 0..size-1 without a gap.
 * 3. The latest signed checkpoint: its Ed25519 signature under the server's key, its origin,
 *    and its root against the root recomputed over the stored leaves up to its size.
 * 4. With `--since-checkpoint FILE`: a checkpoint saved outside the server earlier (by a device's
 *    Admin or the auditor) must be signed by the same key and be a prefix of the log now, proven
 *    by an RFC 9162 consistency proof from it to the latest signed checkpoint. Steps 1-3 check
 *    the log only against itself, so someone able to write the database who cuts off the tail
 *    and every later checkpoint leaves a log that passes them; only a checkpoint kept elsewhere
 *    remembers the lost size.
 *
 * The verdict lists failures as short reasons naming devices, epochs and sequences only; audit
 * entries carry no patient data, and the reasons quote no entry body.
 */
import { AuditChainVerifier, auditGenesisHash } from '../../shared/audit-chain.js';
import type { Sha256 } from '../../shared/hashing.js';
import { verifyCheckpoint } from '../../shared/merkle/checkpoint.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import { type NoteVerifier, ed25519NoteVerifier } from '../../shared/merkle/signed-note.js';
import { verifyConsistency } from '../../shared/merkle/verify.js';
import { verifyEd25519 } from '../auth/server-keys.js';
import { clinicLogOrigin } from '../http/audit-log.js';
import { auditLeafHash } from '../storage/audit-append.js';
import {
  type CheckpointRecord,
  type ClinicStore,
  MAX_LEAF_HASHES_PER_READ,
  MAX_PAGE_SIZE,
} from '../storage/storage.js';

/** The public half of the key that signs the clinic's checkpoints. */
export interface CheckpointVerifierKey {
  readonly keyName: string;
  readonly publicKey: Uint8Array;
}

/** What `audit verify` prints: one line, `ok` false when anything failed. */
export interface AuditVerdict {
  readonly ok: boolean;
  readonly clinicId: string;
  /** Leaves in the clinic's Merkle log. */
  readonly logSize: number;
  /** Audit entries read and checked. */
  readonly entries: number;
  /** Device chains (device and epoch) seen. */
  readonly chains: number;
  /** The size the latest signed checkpoint covers, or null when there is none. */
  readonly checkpointSize: number | null;
  /** The size of the saved checkpoint proven against the log (`--since-checkpoint`), or null when none was given or it did not open. */
  readonly sinceCheckpointSize: number | null;
  /** Why verification failed; empty when `ok`. At most MAX_FAILURES are listed. */
  readonly failures: readonly string[];
}

const MAX_FAILURES = 20;

/** Options of verifyClinicAuditLog. */
export interface AuditVerifyOptions {
  /** A signed checkpoint note kept outside the server, which the log must still extend. */
  readonly sinceCheckpoint?: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/**
 * The stored leaves in order, up to the first missing one: the storage refuses a range with a
 * hole, so a refused range is read again leaf by leaf to find where the log stops.
 */
async function readStoredLeaves(store: ClinicStore, logSize: number, sha256: Sha256): Promise<MerkleLog> {
  const log = new MerkleLog(sha256);
  while (log.size < logSize) {
    const end = Math.min(logSize, log.size + MAX_LEAF_HASHES_PER_READ);
    try {
      for (const hash of await store.auditLeafHashes(log.size, end)) log.appendLeafHash(hash);
    } catch {
      for (let index = log.size; index < end; index++) {
        try {
          const [hash] = await store.auditLeafHashes(index, index + 1);
          if (!hash) return log;
          log.appendLeafHash(hash);
        } catch {
          return log;
        }
      }
    }
  }
  return log;
}

/** Verifies the clinic's whole audit log; a bad log is a verdict, never an exception. */
export async function verifyClinicAuditLog(
  store: ClinicStore,
  key: CheckpointVerifierKey,
  sha256: Sha256,
  options: AuditVerifyOptions = {},
): Promise<AuditVerdict> {
  const failures: string[] = [];
  const fail = (reason: string) => {
    if (failures.length < MAX_FAILURES) failures.push(reason);
  };

  const logSize = await store.auditLogSize();
  const stored = await readStoredLeaves(store, logSize, sha256);
  if (stored.size < logSize) fail(`the log records ${logSize} leaves but only ${stored.size} are stored`);

  const chains = new Map<string, { verifier: AuditChainVerifier; broken: boolean }>();
  let entries = 0;
  let cursor = 0;
  for (;;) {
    const page = await store.listAuditEntries({ after: cursor, limit: MAX_PAGE_SIZE });
    for (const entry of page.entries) {
      const where = `${entry.deviceId} epoch ${entry.epoch} seq ${entry.seq}`;
      if (entry.leafIndex !== entries) fail(`leaf ${entries}: expected here, found leaf ${entry.leafIndex} (${where})`);
      entries++;
      if (entry.leafIndex < stored.size && !sameBytes(auditLeafHash(entry), stored.leafHash(entry.leafIndex))) {
        fail(`leaf ${entry.leafIndex}: stored leaf hash does not match its entry (${where})`);
      }
      const chainKey = `${entry.deviceId}\n${entry.epoch}`;
      let chain = chains.get(chainKey);
      if (!chain) {
        const head = await store.auditChainHead(entry.deviceId, entry.epoch);
        const genesis = auditGenesisHash(sha256, entry.deviceId, entry.epoch);
        chain = {
          verifier: new AuditChainVerifier(sha256, genesis, {
            ...(head ? { knownHead: head } : {}),
            checkEntry: (_stored, body) =>
              body.deviceId === entry.deviceId && body.epoch === entry.epoch ? null : 'body names another chain',
          }),
          broken: false,
        };
        chains.set(chainKey, chain);
      }
      if (chain.broken) continue;
      const broken = chain.verifier.add({
        seq: entry.seq,
        body: entry.body,
        prevHash: entry.prevHash,
        hash: entry.hash,
      });
      if (broken && !broken.ok) {
        chain.broken = true;
        fail(`chain ${entry.deviceId} epoch ${entry.epoch} breaks at seq ${broken.firstBadSeq}: ${broken.reason}`);
      }
    }
    cursor = page.cursor;
    if (!page.hasMore) break;
  }
  if (entries !== logSize) fail(`the log has ${logSize} leaves but ${entries} entries`);
  for (const [chainKey, chain] of chains) {
    if (chain.broken) continue;
    const verdict = chain.verifier.finish();
    if (!verdict.ok) fail(`chain ${chainKey.replace('\n', ' epoch ')}: ${verdict.reason}`);
  }

  const verifier = ed25519NoteVerifier(
    key.keyName,
    key.publicKey,
    (message, signature, publicKey) => verifyEd25519(publicKey, message, signature),
    sha256,
  );
  const origin = clinicLogOrigin(store.clinicId);
  const checkpoint = await store.latestCheckpoint();
  // The latest checkpoint whose note verified and matches the stored leaves: what "now" is proven against.
  let latestRoot: Uint8Array | null = null;
  if (checkpoint === null) {
    if (logSize > 0) fail('the log has leaves but no signed checkpoint');
  } else {
    const opened = verifyCheckpoint(checkpoint.note, [verifier], { origin });
    let signedOk = false;
    if (!opened.ok) {
      fail(`latest checkpoint: ${opened.reason}`);
    } else if (
      opened.checkpoint.size !== checkpoint.size ||
      !sameBytes(opened.checkpoint.rootHash, checkpoint.rootHash)
    ) {
      fail('latest checkpoint: the signed note and the stored size or root differ');
    } else {
      signedOk = true;
    }
    if (checkpoint.size > stored.size) {
      fail(`latest checkpoint covers ${checkpoint.size} leaves but the log has ${stored.size} (rolled back)`);
    } else if (!sameBytes(stored.root(checkpoint.size), checkpoint.rootHash)) {
      fail(`latest checkpoint: its root differs from the root of the stored leaves at size ${checkpoint.size}`);
    } else if (signedOk) {
      latestRoot = checkpoint.rootHash;
    }
  }

  const sinceCheckpointSize =
    options.sinceCheckpoint === undefined
      ? null
      : verifySavedCheckpoint(options.sinceCheckpoint, verifier, origin, stored, checkpoint, latestRoot, sha256, fail);

  return {
    ok: failures.length === 0,
    clinicId: store.clinicId,
    logSize,
    entries,
    chains: chains.size,
    checkpointSize: checkpoint?.size ?? null,
    sinceCheckpointSize,
    failures,
  };
}

/**
 * Proves the log now extends a checkpoint saved outside the server, as an auditor holding only
 * that checkpoint and the server's public key would: its signature and origin, then an RFC 9162
 * consistency proof from it to the latest signed checkpoint (built from the stored leaves and
 * checked against the signed root). Returns the saved size, or null when the note does not open.
 */
function verifySavedCheckpoint(
  note: string,
  verifier: NoteVerifier,
  origin: string,
  stored: MerkleLog,
  latest: CheckpointRecord | null,
  latestRoot: Uint8Array | null,
  sha256: Sha256,
  fail: (reason: string) => void,
): number | null {
  const opened = verifyCheckpoint(note, [verifier], { origin });
  if (!opened.ok) {
    fail(`saved checkpoint: ${opened.reason}`);
    return null;
  }
  const saved = opened.checkpoint;
  const latestSize = latest?.size ?? 0;
  if (saved.size > stored.size || saved.size > latestSize) {
    fail(
      `saved checkpoint covers ${saved.size} leaves but the log now holds ${stored.size} and its latest signed checkpoint ${latestSize}: entries the server once signed for were removed (truncated)`,
    );
    return saved.size;
  }
  if (latestRoot === null) {
    // The latest checkpoint itself failed above; there is no signed "now" to prove against.
    fail('saved checkpoint: no valid latest checkpoint to prove consistency to');
    return saved.size;
  }
  const proof = stored.consistencyProof(saved.size, latestSize);
  if (!verifyConsistency(sha256, saved.size, latestSize, proof, saved.rootHash, latestRoot)) {
    fail(
      `saved checkpoint of ${saved.size} leaves is not a prefix of the log's latest signed checkpoint of ${latestSize}: the first ${saved.size} leaves were rewritten (forked)`,
    );
  }
  return saved.size;
}
