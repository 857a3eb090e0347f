/**
 * The quarantine on the embedded storage: refused pushed changes with their reasons, in one
 * clinic file. A change already in the change log (or compacted from it) is never quarantined.
 */
import {
  type QuarantineRow,
  QUARANTINE_COLUMNS,
  freshQuarantineEntries,
  inBatchOrder,
  quarantinedFromRow,
} from '../quarantine-rows.js';
import {
  type QuarantineBatch,
  type QuarantinePage,
  type QuarantineQuery,
  type QuarantineResult,
  type QuarantinedChange,
  changeIdListSchema,
  parseInput,
  quarantineBatchSchema,
  quarantineQuerySchema,
} from '../records.js';
import type { SqliteClinicDatabase } from '../sqlite/clinic-database.js';
import type { QuarantineStore } from './quarantine-store.js';

/** The quarantine of one clinic file. */
export function sqliteQuarantine(clinic: SqliteClinicDatabase): QuarantineStore {
  const { sql, clock } = clinic;
  return {
    async quarantineChanges(input: QuarantineBatch): Promise<QuarantineResult> {
      const batch = parseInput(quarantineBatchSchema, input);
      return clinic.write((): QuarantineResult => {
        clinic.requireActiveDevice(batch.deviceId);
        const ids = JSON.stringify(batch.entries.map((entry) => entry.change.changeId));
        // A compacted change was accepted too.
        const accepted = sql
          .get(
            `SELECT 1 FROM changes WHERE change_id IN (SELECT value FROM json_each(?))
             UNION ALL
             SELECT 1 FROM compacted_changes WHERE change_id IN (SELECT value FROM json_each(?)) LIMIT 1`,
          )
          .get(ids, ids);
        if (accepted) return { outcome: 'alreadyAccepted' };
        const select = `SELECT ${QUARANTINE_COLUMNS} FROM quarantined_changes WHERE change_id IN (SELECT value FROM json_each(?))`;
        const stored = sql.get(select).all(ids) as QuarantineRow[];
        const fresh = freshQuarantineEntries(batch, stored);
        const now = clock.now();
        const insert = sql.get(
          `INSERT INTO quarantined_changes (${QUARANTINE_COLUMNS.replace('quarantine_seq, ', '')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const { entry, contentHash } of fresh) {
          const { change } = entry;
          insert.run(
            change.changeId,
            change.txId,
            change.deviceId,
            change.userId,
            change.entity,
            change.rowId,
            change.op,
            change.hlc,
            entry.reason,
            entry.detail,
            contentHash,
            now,
          );
        }
        return { outcome: 'quarantined', changes: inBatchOrder(batch, sql.get(select).all(ids) as QuarantineRow[]) };
      });
    },

    async findQuarantinedChanges(changeIds: readonly string[]): Promise<QuarantinedChange[]> {
      const ids = parseInput(changeIdListSchema, changeIds);
      const rows = sql
        .get(
          `SELECT ${QUARANTINE_COLUMNS} FROM quarantined_changes WHERE change_id IN (SELECT value FROM json_each(?)) ORDER BY quarantine_seq`,
        )
        .all(JSON.stringify(ids)) as QuarantineRow[];
      return rows.map(quarantinedFromRow);
    },

    async listQuarantinedChanges(query: QuarantineQuery): Promise<QuarantinePage> {
      const { deviceId, after, limit } = parseInput(quarantineQuerySchema, query);
      const rows = sql
        .get(
          `SELECT ${QUARANTINE_COLUMNS} FROM quarantined_changes WHERE device_id = ? AND quarantine_seq > ? ORDER BY quarantine_seq LIMIT ?`,
        )
        .all(deviceId, after, limit + 1) as QuarantineRow[];
      const changes = rows.slice(0, limit).map(quarantinedFromRow);
      return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.quarantineSeq ?? after };
    },
  };
}
