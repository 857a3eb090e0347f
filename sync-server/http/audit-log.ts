/**
 * Each clinic's Merkle log in memory, rebuilt from the leaf hashes in storage and kept per clinic
 * (least recently used clinics are dropped), and the signed checkpoints over it.
 *
 * Storage is the truth: before every use the cached log catches up with the leaves storage
 * holds, so another process appending to the same PostgreSQL is seen, and a restart loses
 * nothing. Leaves only append, so catching up is reading the new ones. Calls for one clinic are
 * serialised, since catching up is a read followed by appends.
 *
 * Leaves only append through the storage, but someone writing the database directly can cut the
 * log's tail off (issue #11, finding 5). A log that storage holds fewer leaves of than this
 * process already served, or whose last cached leaf changed, is recorded as the security event
 * `audit.log_shrank` and rebuilt from storage: the server then signs what storage holds, and the
 * devices that pinned the larger checkpoint refuse it and say so (main/core/sync/checkpoint-pin.ts).
 * Before, the stale cache was kept and the next checkpoint failed as INTERNAL, round after round.
 */
import type { Sha256 } from '../../shared/hashing.js';
import { formatCheckpoint, signCheckpoint } from '../../shared/merkle/checkpoint.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import type { ServerKeys } from '../auth/server-keys.js';
import {
  type CheckpointRecord,
  CheckpointRejectedError,
  type ClinicStore,
  MAX_LEAF_HASHES_PER_READ,
} from '../storage/storage.js';

/** The origin line of a clinic log's checkpoints. */
export function clinicLogOrigin(clinicId: string): string {
  return `chairside/clinic-audit/${clinicId}`;
}

interface CachedLog {
  log: MerkleLog;
  // The tail of the queue of calls for this clinic.
  queue: Promise<unknown>;
}

/** The Merkle logs of the clinics this process serves. */
export class ClinicAuditLogs {
  private readonly logs = new Map<string, CachedLog>();

  constructor(
    private readonly sha256: Sha256,
    private readonly keys: ServerKeys,
    private readonly maxClinics = 64,
  ) {}

  /** Runs fn with the clinic's log caught up with storage, one call per clinic at a time. */
  withLog<T>(store: ClinicStore, fn: (log: MerkleLog) => Promise<T>): Promise<T> {
    let cached = this.logs.get(store.clinicId);
    if (cached) {
      // Re-insert: Map order is the least-recently-used order.
      this.logs.delete(store.clinicId);
    } else {
      cached = { log: new MerkleLog(this.sha256), queue: Promise.resolve() };
    }
    this.logs.set(store.clinicId, cached);
    while (this.logs.size > this.maxClinics) this.logs.delete(this.logs.keys().next().value!);
    const entry = cached;
    const run = entry.queue.then(async () => {
      await this.catchUp(store, entry);
      return fn(entry.log);
    });
    entry.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The latest checkpoint, first signing and storing one over every leaf when storage has more
   * leaves than the latest checkpoint covers (checkpoints are made after each accepted push).
   */
  checkpoint(store: ClinicStore): Promise<CheckpointRecord> {
    return this.withLog(store, async (log) => {
      const latest = await store.latestCheckpoint();
      if (latest && latest.size >= log.size) return latest;
      const size = log.size;
      const rootHash = log.root(size);
      const text = formatCheckpoint({ origin: clinicLogOrigin(store.clinicId), size, rootHash });
      const note = signCheckpoint(
        text,
        this.keys.checkpointKeyName,
        this.keys.checkpointPublicKey,
        this.keys.signCheckpoint,
        this.sha256,
      );
      try {
        return await store.storeCheckpoint({ size, rootHash, note });
      } catch (error) {
        // Another process stored a larger one meanwhile: that one is the latest.
        if (error instanceof CheckpointRejectedError && error.reason === 'rollback') {
          const newer = await store.latestCheckpoint();
          if (newer) return newer;
        }
        throw error;
      }
    });
  }

  private async catchUp(store: ClinicStore, entry: CachedLog): Promise<void> {
    const size = await store.auditLogSize();
    if (size < entry.log.size) return this.rebuild(store, entry, size, 'fewer_leaves');
    if (size === entry.log.size) return;
    // The first read overlaps the last cached leaf: a log cut and refilled past its old size shows there.
    const overlap = entry.log.size > 0 ? 1 : 0;
    const start = entry.log.size - overlap;
    const [last, ...fresh] = await store.auditLeafHashes(start, Math.min(size, start + MAX_LEAF_HASHES_PER_READ));
    if (overlap === 1 && !sameBytes(last!, entry.log.leafHash(entry.log.size - 1))) {
      return this.rebuild(store, entry, size, 'leaf_changed');
    }
    for (const hash of overlap === 1 ? fresh : [last!, ...fresh]) entry.log.appendLeafHash(hash);
    await this.readLeaves(store, entry.log, size);
  }

  /** Replaces the cached log with what storage holds now, recording why as a security event. */
  private async rebuild(
    store: ClinicStore,
    entry: CachedLog,
    storedSize: number,
    reason: 'fewer_leaves' | 'leaf_changed',
  ): Promise<void> {
    await store.appendSecurityEvent({
      kind: 'audit.log_shrank',
      deviceId: null,
      userId: null,
      details: { reason, servedSize: entry.log.size, storedSize },
    });
    entry.log = new MerkleLog(this.sha256);
    await this.readLeaves(store, entry.log, storedSize);
  }

  private async readLeaves(store: ClinicStore, log: MerkleLog, size: number): Promise<void> {
    while (log.size < size) {
      const end = Math.min(size, log.size + MAX_LEAF_HASHES_PER_READ);
      for (const hash of await store.auditLeafHashes(log.size, end)) log.appendLeafHash(hash);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
