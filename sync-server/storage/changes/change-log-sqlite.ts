/**
 * The change log on the embedded storage: group-committed appends (group-commit.ts), pages by
 * server number, the devices' pulled cursors and patients' branches, in one clinic file.
 */
import type { StoredChangeDigest } from '../change-append.js';
import { DeviceRevokedError, UnknownDeviceError } from '../errors.js';
import { planGroupAppend } from '../group-append.js';
import { GroupCommit, type GroupOutcome } from '../group-commit.js';
import { type ParsedChangeBatch, parseChangeBatch } from '../parsed-changes.js';
import { type PatientBranchRow, patientBranchesFromRows } from '../quarantine-rows.js';
import {
  type AppendChangesResult,
  type ChangePage,
  type PageQuery,
  changeIdListSchema,
  pageQuerySchema,
  parseInput,
  pulledCursorInputSchema,
} from '../records.js';
import type { SqliteClinicDatabase } from '../sqlite/clinic-database.js';
import {
  CHANGE_COLUMNS,
  type ChangeRow,
  PULLED_CURSOR_COLUMNS,
  type PulledCursorRow,
  changeFromRow,
  pulledCursorFromRow,
} from '../stored-rows.js';
import type { ChangeLogStore } from './change-log-store.js';

/**
 * Appends a group of validated batches in one transaction; each batch gets its own outcome.
 * One read of the devices, of the stored ids and of the counter for the whole group, and every
 * batch decided before anything is written (group-append.ts): a savepoint, a device check, an
 * id lookup and a counter update per batch cost a third of the push path in the benchmark.
 */
function commitChangeAppends(
  clinic: SqliteClinicDatabase,
  batches: readonly ParsedChangeBatch[],
): Array<GroupOutcome<AppendChangesResult>> {
  const { sql, clock } = clinic;
  return clinic.write(() => {
    const refused = new Map<string, unknown>();
    for (const deviceId of new Set(batches.map((batch) => batch.deviceId))) {
      try {
        clinic.requireActiveDevice(deviceId);
      } catch (error) {
        if (!(error instanceof UnknownDeviceError || error instanceof DeviceRevokedError)) throw error;
        refused.set(deviceId, error);
      }
    }
    const ids = JSON.stringify(batches.flatMap((batch) => batch.changes.map((change) => change.changeId)));
    // Compacted changes keep their idempotency record: a re-push of one is answered, not re-inserted.
    const rows = sql
      .get(
        `SELECT change_id, server_seq, content_hash FROM changes WHERE change_id IN (SELECT value FROM json_each(?))
         UNION ALL
         SELECT change_id, server_seq, content_hash FROM compacted_changes WHERE change_id IN (SELECT value FROM json_each(?))`,
      )
      .all(ids, ids) as Array<{ change_id: string; server_seq: number; content_hash: string }>;
    const stored = new Map<string, StoredChangeDigest>(
      rows.map((row) => [row.change_id, { serverSeq: row.server_seq, contentHash: row.content_hash }]),
    );
    const before = clinic.counterValue('changes');
    const plan = planGroupAppend(batches, stored, refused, before);
    const receivedAt = clock.now();
    const insert = sql.get(
      `INSERT INTO changes (${CHANGE_COLUMNS}, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const { change, serverSeq, fieldsJson, contentHash } of plan.inserts) {
      insert.run(
        serverSeq,
        change.changeId,
        change.txId,
        change.deviceId,
        change.userId,
        change.entity,
        change.rowId,
        change.op,
        fieldsJson,
        change.hlc,
        change.schemaVersion,
        receivedAt,
        contentHash,
      );
    }
    if (plan.counter > before) clinic.advanceCounter('changes', plan.counter - before);
    return plan.outcomes;
  });
}

function writeCursor(clinic: SqliteClinicDatabase, cursor: { deviceId: string; after: number }): void {
  clinic.write(() => {
    if (!clinic.sql.get('SELECT 1 FROM devices WHERE device_id = ?').get(cursor.deviceId)) {
      throw new UnknownDeviceError('no such device in this clinic');
    }
    const capped = Math.min(cursor.after, clinic.counterValue('changes'));
    clinic.sql
      .get(
        `INSERT INTO device_cursors (device_id, pulled_after, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET pulled_after = excluded.pulled_after, updated_at = excluded.updated_at
         WHERE excluded.pulled_after > device_cursors.pulled_after`,
      )
      .run(cursor.deviceId, capped, clinic.clock.now());
  });
}

/** The change log of one clinic file. */
export function sqliteChangeLog(clinic: SqliteClinicDatabase): ChangeLogStore {
  const { sql, db } = clinic;
  // Batches pushed at the same time share one transaction and one disk flush (group-commit.ts).
  const changeAppends = new GroupCommit<ParsedChangeBatch, AppendChangesResult>(
    async (batches) => commitChangeAppends(clinic, batches),
    (batch) => batch.changes.length,
  );

  const pullChanges = async (query: PageQuery): Promise<ChangePage> => {
    const { after, limit } = parseInput(pageQuerySchema, query);
    const rows = sql
      .get(`SELECT ${CHANGE_COLUMNS} FROM changes WHERE server_seq > ? ORDER BY server_seq LIMIT ?`)
      .all(after, limit + 1) as ChangeRow[];
    const changes = rows.slice(0, limit).map(changeFromRow);
    return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.serverSeq ?? after };
  };

  /** Raises the device's cursor; returns the one it had recorded before (null: none). */
  const raisePulledCursor = (deviceId: string, after: number): number | null => {
    const cursor = parseInput(pulledCursorInputSchema, { deviceId, after });
    // Most pulls repeat the cursor (polling rounds): a read, not a write transaction and its flush.
    const stored = sql.get('SELECT pulled_after FROM device_cursors WHERE device_id = ?').get(cursor.deviceId) as
      { pulled_after: number } | undefined;
    if (stored && stored.pulled_after >= cursor.after) return stored.pulled_after;
    // A cursor is a lower bound for compaction: one lost to a power cut only holds the horizon back,
    // so it is committed without waiting for the disk (each pulled page would otherwise wait for a
    // WAL flush, a quarter of the pull throughput measured with 20 devices). Everything here is
    // synchronous, so no other transaction commits under this setting.
    db.pragma('synchronous = NORMAL');
    try {
      writeCursor(clinic, cursor);
    } finally {
      db.pragma('synchronous = FULL');
    }
    return stored?.pulled_after ?? null;
  };

  return {
    async appendChanges(input) {
      // Changes the push route already parsed are not parsed again (parsed-changes.ts).
      return changeAppends.submit(parseChangeBatch(input));
    },

    pullChanges,

    async latestChangeSeq() {
      return clinic.counterValue('changes');
    },

    async recordPulledCursor(deviceId, after) {
      raisePulledCursor(deviceId, after);
    },

    async pullChangesForDevice(deviceId, query) {
      // Both are synchronous here: nothing runs between the cursor's commit and the read.
      const pulledBefore = raisePulledCursor(deviceId, query.after);
      return { ...(await pullChanges(query)), pulledBefore };
    },

    async listPulledCursors() {
      const rows = sql
        .get(`SELECT ${PULLED_CURSOR_COLUMNS} FROM device_cursors ORDER BY device_id`)
        .all() as PulledCursorRow[];
      return rows.map(pulledCursorFromRow);
    },

    async readPatientBranches(patientIds) {
      const ids = parseInput(changeIdListSchema, patientIds);
      // The partial index changes_patient_rows (migration 80) answers this by row id.
      const rows = sql
        .get(
          `SELECT row_id, fields, hlc FROM changes
           WHERE entity = 'patient' AND row_id IN (SELECT value FROM json_each(?))
             AND json_type(fields, '$.branch_id') = 'text'`,
        )
        .all(JSON.stringify(ids)) as PatientBranchRow[];
      return patientBranchesFromRows(rows);
    },
  };
}
