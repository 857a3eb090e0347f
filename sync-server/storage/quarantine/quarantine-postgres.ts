/**
 * The quarantine on PostgreSQL: refused pushed changes with their reasons. A change already in
 * the change log (or compacted from it) is never quarantined; the change counter's lock orders
 * a quarantine against appends of the same ids. A refusal's detail is stored sealed with the
 * clinic's data key (postgres/sealed-rows.ts): it can quote a field name a device sent.
 */
import { type PostgresClinicContext, lockCounter, requireActiveDevice } from '../postgres/clinic-transaction.js';
import { SCHEMA } from '../postgres/migrate.js';
import { SEALED_QUARANTINE_COLUMNS, type SealedQuarantineRow, openQuarantineRow } from '../postgres/sealed-rows.js';
import { type QuarantineRow, freshQuarantineEntries, inBatchOrder, quarantinedFromRow } from '../quarantine-rows.js';
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
import type { QuarantineStore } from './quarantine-store.js';

/** The quarantine area of one clinic. */
export function postgresQuarantine({ run, clock, dataKey }: PostgresClinicContext): QuarantineStore {
  const opened = (rows: readonly SealedQuarantineRow[]): QuarantineRow[] =>
    rows.map((row) => openQuarantineRow(dataKey, row));
  return {
    async quarantineChanges(input: QuarantineBatch): Promise<QuarantineResult> {
      const batch = parseInput(quarantineBatchSchema, input);
      const ids = batch.entries.map((entry) => entry.change.changeId);
      return run(async (client): Promise<QuarantineResult> => {
        await requireActiveDevice(client, batch.deviceId);
        // The changes counter lock orders this against appends of the same ids.
        await lockCounter(client, 'changes');
        // A compacted change was accepted too.
        const accepted = await client.query(
          `SELECT 1 FROM ${SCHEMA}.changes WHERE change_id = ANY($1::text[])
           UNION ALL
           SELECT 1 FROM ${SCHEMA}.compacted_changes WHERE change_id = ANY($1::text[]) LIMIT 1`,
          [ids],
        );
        if (accepted.rowCount) return { outcome: 'alreadyAccepted' };
        const select = `SELECT ${SEALED_QUARANTINE_COLUMNS} FROM ${SCHEMA}.quarantined_changes WHERE change_id = ANY($1::text[])`;
        const stored = opened((await client.query<SealedQuarantineRow>(select, [ids])).rows);
        const fresh = freshQuarantineEntries(batch, stored);
        const now = clock.now();
        for (const { entry, contentHash } of fresh) {
          const { change } = entry;
          await client.query(
            `INSERT INTO ${SCHEMA}.quarantined_changes
               (change_id, tx_id, device_id, user_id, entity, row_id, op, hlc, reason, sealed_detail, content_hash, quarantined_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
            [
              change.changeId,
              change.txId,
              change.deviceId,
              change.userId,
              change.entity,
              change.rowId,
              change.op,
              change.hlc,
              entry.reason,
              dataKey.sealQuarantineDetail(change.changeId, entry.detail),
              contentHash,
              now,
            ],
          );
        }
        return {
          outcome: 'quarantined',
          changes: inBatchOrder(batch, opened((await client.query<SealedQuarantineRow>(select, [ids])).rows)),
        };
      });
    },

    async findQuarantinedChanges(changeIds: readonly string[]): Promise<QuarantinedChange[]> {
      const ids = parseInput(changeIdListSchema, changeIds);
      const rows = await run(
        async (client) =>
          (
            await client.query<SealedQuarantineRow>(
              `SELECT ${SEALED_QUARANTINE_COLUMNS} FROM ${SCHEMA}.quarantined_changes
                WHERE change_id = ANY($1::text[]) ORDER BY quarantine_seq`,
              [ids],
            )
          ).rows,
      );
      return opened(rows).map(quarantinedFromRow);
    },

    async listQuarantinedChanges(query: QuarantineQuery): Promise<QuarantinePage> {
      const { deviceId, after, limit } = parseInput(quarantineQuerySchema, query);
      const rows = await run(
        async (client) =>
          (
            await client.query<SealedQuarantineRow>(
              `SELECT ${SEALED_QUARANTINE_COLUMNS} FROM ${SCHEMA}.quarantined_changes
                WHERE device_id = $1 AND quarantine_seq > $2 ORDER BY quarantine_seq LIMIT $3`,
              [deviceId, after, limit + 1],
            )
          ).rows,
      );
      const changes = opened(rows.slice(0, limit)).map(quarantinedFromRow);
      return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.quarantineSeq ?? after };
    },
  };
}
