/**
 * Each clinic's Merkle log in memory, rebuilt from the leaf hashes in storage and kept per clinic
 * (least recently used clinics are dropped), and the signed checkpoints over it.
 *
 * Storage is the truth: before every use the cached log catches up with the leaves storage
 * holds, so another process appending to the same PostgreSQL is seen, and a restart loses
 * nothing. Leaves only append, so catching up is reading the new ones. Calls for one clinic are
 * serialised, since catching up is a read followed by appends.
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
  readonly log: MerkleLog;
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
      await this.catchUp(store, entry.log);
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

  private async catchUp(store: ClinicStore, log: MerkleLog): Promise<void> {
    const size = await store.auditLogSize();
    while (log.size < size) {
      const end = Math.min(size, log.size + MAX_LEAF_HASHES_PER_READ);
      for (const hash of await store.auditLeafHashes(log.size, end)) log.appendLeafHash(hash);
    }
  }
}
