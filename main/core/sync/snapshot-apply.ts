/**
 * Writes a verified clinic snapshot (snapshot-fetch.ts; docs/sync-protocol.md, "Snapshot
 * bootstrap") into the device's database, two ways:
 *
 * - a join (setup.joinClinic) feeds it into the join's in-memory merge (join-apply.ts JoinMerge),
 *   which writes rows, clocks, the search index and review pairs in bulk into the new database;
 * - a device whose database went back behind the compaction horizon (restored from a backup)
 *   merges it into the database it holds, row by row through applyRemoteChange, in one
 *   transaction with the new cursor. Its outbox is not touched, so its unpushed changes are
 *   pushed afterwards; a field it wrote later than the snapshot's clock keeps its value, by the
 *   same merge a pulled change goes through.
 *
 * Either way each row goes in as the changes it stands for (shared/sync/snapshot.ts
 * snapshotRowChanges), so a snapshot merges exactly like the log it was built from.
 */
import type { ChangeRecord } from '../../../shared/sync/change.js';
import { DEFAULT_MAX_DRIFT_MS, validatedHlcWallMs } from '../../../shared/sync/hlc.js';
import { type SnapshotChunk, newestRowClock, snapshotRowChanges } from '../../../shared/sync/snapshot.js';
import type { WriteDb } from '../db/access.js';
import type { JoinMerge } from './join-apply.js';
import type { ReplicationHooks } from './replication-hooks.js';
import type { VerifiedSnapshot } from './snapshot-fetch.js';
import { applyRemoteChange, receiveRemoteClocks } from './sync-apply.js';

/** What a snapshot brought. */
export interface SnapshotApplied {
  /** Rows in the snapshot. */
  readonly rows: number;
  /** Row changes applied (as applyRemoteChange counts them); a join counts when it writes. */
  readonly applied: number;
  /** Conflict-log entries added (a merge into a database that held other values). */
  readonly conflicts: number;
  /** The cursor the snapshot stands at. */
  readonly cursor: number;
}

/**
 * Feeds a snapshot into a join's merge, in the snapshot's entity order; `clocks` receives each
 * row's newest clock (the join follows the newest it may). Returns the number of rows.
 */
export function addSnapshotToJoin(
  merge: JoinMerge,
  snapshot: VerifiedSnapshot,
  clocks: Array<Pick<ChangeRecord, 'hlc'>>,
): number {
  let rows = 0;
  for (const chunk of snapshot.chunks) rows += addSnapshotChunkToJoin(merge, chunk, clocks);
  return rows;
}

/** Feeds one verified chunk into a join's merge (chunks in manifest order), as addSnapshotToJoin does; its rows. */
export function addSnapshotChunkToJoin(
  merge: JoinMerge,
  chunk: SnapshotChunk,
  clocks: Array<Pick<ChangeRecord, 'hlc'>>,
): number {
  merge.addSnapshotRows(chunk.entity, chunk.rows);
  for (const row of chunk.rows) {
    const newest = newestRowClock(row);
    if (newest !== null) clocks.push({ hlc: newest });
  }
  return chunk.rows.length;
}

/**
 * Merges a snapshot into a database that holds the clinic already (a device restored from a
 * backup), and moves the pull cursor to the snapshot's, in one transaction: a failure leaves the
 * database as it was, and the next round starts over. The outbox is left alone.
 */
export function mergeSnapshotIntoDatabase(
  db: WriteDb,
  snapshot: VerifiedSnapshot,
  deviceId: string,
  now: number,
  hooks: ReplicationHooks,
): SnapshotApplied {
  return db.transaction(() => {
    let rows = 0;
    let applied = 0;
    let conflicts = 0;
    let newest: string | null = null;
    for (const chunk of snapshot.chunks) {
      for (const row of chunk.rows) {
        rows++;
        for (const change of snapshotRowChanges(chunk.entity, row)) {
          const outcome = applyRemoteChange(db, change, now, hooks);
          if (outcome.applied) applied++;
          conflicts += outcome.conflicts;
        }
        const clock = newestRowClock(row);
        // Only a clock this device may follow (not too far ahead of its own time).
        if (
          clock !== null &&
          (newest === null || clock > newest) &&
          validatedHlcWallMs(clock) - now <= DEFAULT_MAX_DRIFT_MS
        ) {
          newest = clock;
        }
      }
    }
    // One receive of the newest clock: its next write outranks everything the snapshot holds.
    receiveRemoteClocks(db, deviceId, newest === null ? [] : [newest], now);
    db.command('UPDATE sync_identity SET pulled_cursor = ?').run([snapshot.manifest.cursor]);
    return { rows, applied, conflicts, cursor: snapshot.manifest.cursor };
  });
}
