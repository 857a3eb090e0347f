/**
 * Change-log compaction on the embedded storage, in slices (compaction-slices.ts): better-sqlite3
 * is synchronous on the thread that serves every clinic, so each slice is one short write
 * transaction and the event loop runs other requests between slices.
 */
import {
  COMPACTABLE_ENTITIES,
  COMPACTION_COLUMNS,
  type CompactionRow,
  compactionHorizon,
} from '../change-compaction.js';
import type { CompactionResult } from '../records.js';
import type { SqliteClinicDatabase } from '../sqlite/clinic-database.js';
import {
  type CompactionSliceOptions,
  type CompactionSlicePort,
  DEFAULT_COMPACTION_SLICES,
  type SliceState,
  compactInSlices,
  rowKey,
} from './compaction-slices.js';
import type { CompactionStore } from './compaction-store.js';

const ENTITIES = JSON.stringify(COMPACTABLE_ENTITIES);

function horizonOf(clinic: SqliteClinicDatabase): number {
  const devices = clinic.sql
    .get('SELECT d.revoked_at, c.pulled_after FROM devices d LEFT JOIN device_cursors c USING (device_id)')
    .all() as Array<{ revoked_at: number | null; pulled_after: number | null }>;
  return compactionHorizon(devices.map((row) => ({ revoked: row.revoked_at !== null, pulledAfter: row.pulled_after })));
}

/** The embedded storage's side of a sliced compaction. */
function sqliteSlicePort(clinic: SqliteClinicDatabase): CompactionSlicePort {
  const { sql, clock } = clinic;
  return {
    async start() {
      // One read transaction, so the horizon and the head are of the same moment.
      return clinic.db.transaction(() => ({ horizon: horizonOf(clinic), head: clinic.counterValue('changes') }))();
    },

    async readCandidates(after, upTo, limit) {
      return sql
        .get(
          `SELECT ${COMPACTION_COLUMNS} FROM changes
            WHERE server_seq > ? AND server_seq <= ? AND entity IN (SELECT value FROM json_each(?))
            ORDER BY server_seq LIMIT ?`,
        )
        .all(after, upTo, ENTITIES, limit) as CompactionRow[];
    },

    async removeSlice(checkedThrough, choose) {
      // A slice lost to a power cut leaves its changes in the log, as before it ran; the next run
      // compacts them. So its commit does not wait for the disk (a flush per slice was most of a
      // slice's time, measured on the bench machine). Everything here is synchronous, so no other
      // transaction commits under this setting.
      clinic.db.pragma('synchronous = NORMAL');
      try {
        return removeSlice(checkedThrough, choose);
      } finally {
        clinic.db.pragma('synchronous = FULL');
      }
    },

    async countChanges(after, upTo) {
      // Two statements, not `? IS NULL OR ...`: each must be a range of the primary key.
      const row = (
        upTo === null
          ? sql.get('SELECT count(*) AS n FROM changes WHERE server_seq > ?').get(after)
          : sql.get('SELECT count(*) AS n FROM changes WHERE server_seq > ? AND server_seq <= ?').get(after, upTo)
      ) as { n: number };
      return row.n;
    },
  };

  function removeSlice(
    checkedThrough: number,
    choose: (state: SliceState) => readonly number[] | null,
  ): { removed: number; checkedThrough: number } | null {
    return clinic.write(() => {
      const head = clinic.counterValue('changes');
      const written = sql
        .get(
          `SELECT entity, row_id FROM changes
              WHERE server_seq > ? AND entity IN (SELECT value FROM json_each(?))`,
        )
        .all(checkedThrough, ENTITIES) as Array<{ entity: string; row_id: string }>;
      const chosen = choose({
        horizon: horizonOf(clinic),
        writtenRows: written.map((row) => rowKey(row.entity, row.row_id)),
        checkedThrough: head,
      });
      if (chosen === null) return null;
      if (chosen.length === 0) return { removed: 0, checkedThrough: head };
      const seqs = JSON.stringify(chosen);
      sql
        .get(
          `INSERT INTO compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
             SELECT server_seq, change_id, device_id, content_hash, ? FROM changes
              WHERE server_seq IN (SELECT value FROM json_each(?))`,
        )
        .run(clock.now(), seqs);
      // The trigger on changes lets a row go only once its record is in compacted_changes.
      const deleted = sql.get('DELETE FROM changes WHERE server_seq IN (SELECT value FROM json_each(?))').run(seqs);
      return { removed: deleted.changes, checkedThrough: head };
    });
  }
}

/** Change-log compaction of one clinic file; `slices` sizes its slices (tests make them small). */
export function sqliteCompaction(
  clinic: SqliteClinicDatabase,
  slices: CompactionSliceOptions = DEFAULT_COMPACTION_SLICES,
): CompactionStore {
  const port = sqliteSlicePort(clinic);
  // One compaction of a file at a time: a second request waits for the first, then runs.
  let running: Promise<unknown> = Promise.resolve();
  return {
    async compactChanges(): Promise<CompactionResult> {
      const run = running.then(() => compactInSlices(port, slices));
      running = run.catch(() => undefined);
      return run;
    },
  };
}
