/**
 * Change-log compaction on PostgreSQL, in slices (compaction-slices.ts). Pulls never wait for a
 * compaction (they read a snapshot); appends and quarantines of the clinic take the change
 * counter's lock, which a slice holds from its check of what was written since the plan to its
 * commit, so they wait for one slice at most, not for the whole compaction.
 */
import type pg from 'pg';
import { COMPACTABLE_ENTITIES, compactionHorizon } from '../change-compaction.js';
import { type PostgresClinicContext, counterValue, lockCounter } from '../postgres/clinic-transaction.js';
import { SCHEMA } from '../postgres/migrate.js';
import { SEALED_COMPACTION_COLUMNS, type SealedCompactionRow, openCompactionRow } from '../postgres/sealed-rows.js';
import type { CompactionResult } from '../records.js';
import {
  type CompactionSliceOptions,
  type CompactionSlicePort,
  DEFAULT_COMPACTION_SLICES,
  compactInSlices,
  rowKey,
} from './compaction-slices.js';
import type { CompactionStore } from './compaction-store.js';

async function horizonOf(client: pg.PoolClient): Promise<number> {
  const devices = await client.query<{ revoked_at: number | null; pulled_after: number | null }>(
    `SELECT d.revoked_at, c.pulled_after FROM ${SCHEMA}.devices d
       LEFT JOIN ${SCHEMA}.device_cursors c ON c.clinic_id = d.clinic_id AND c.device_id = d.device_id`,
  );
  return compactionHorizon(
    devices.rows.map((row) => ({ revoked: row.revoked_at !== null, pulledAfter: row.pulled_after })),
  );
}

/** PostgreSQL's side of a sliced compaction; each call is a transaction of the clinic. */
function postgresSlicePort({ run, clock, dataKey }: PostgresClinicContext): CompactionSlicePort {
  return {
    async start() {
      // Every change up to the counter's value is committed: numbers are given, and committed, under its lock.
      return run(async (client) => ({ horizon: await horizonOf(client), head: await counterValue(client, 'changes') }));
    },

    async readCandidates(after, upTo, limit) {
      // A candidate's field names are inside its sealed fields: each is opened (one AES-GCM per change).
      const rows = await run(
        async (client) =>
          (
            await client.query<SealedCompactionRow>(
              `SELECT ${SEALED_COMPACTION_COLUMNS} FROM ${SCHEMA}.changes
                WHERE server_seq > $1 AND server_seq <= $2 AND entity = ANY($3::text[])
                ORDER BY server_seq LIMIT $4`,
              [after, upTo, COMPACTABLE_ENTITIES, limit],
            )
          ).rows,
      );
      return rows.map((row) => openCompactionRow(dataKey, row));
    },

    async removeSlice(checkedThrough, choose) {
      return run(async (client) => {
        // The change counter's lock: an append or quarantine of this clinic waits for this slice,
        // so the check below sees every change numbered so far, and a re-push never looks for a
        // change between its leaving `changes` and its record appearing.
        const head = await lockCounter(client, 'changes');
        const written = await client.query<{ entity: string; row_id: string }>(
          `SELECT entity, row_id FROM ${SCHEMA}.changes WHERE server_seq > $1 AND entity = ANY($2::text[])`,
          [checkedThrough, COMPACTABLE_ENTITIES],
        );
        const chosen = choose({
          horizon: await horizonOf(client),
          writtenRows: written.rows.map((row) => rowKey(row.entity, row.row_id)),
          checkedThrough: head,
        });
        if (chosen === null) return null;
        if (chosen.length === 0) return { removed: 0, checkedThrough: head };
        await client.query(
          `INSERT INTO ${SCHEMA}.compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
           SELECT server_seq, change_id, device_id, content_hash, $2 FROM ${SCHEMA}.changes
            WHERE server_seq = ANY($1::bigint[])`,
          [chosen, clock.now()],
        );
        // The trigger on changes lets a row go only once its record is in compacted_changes.
        const deleted = await client.query(`DELETE FROM ${SCHEMA}.changes WHERE server_seq = ANY($1::bigint[])`, [
          chosen,
        ]);
        return { removed: deleted.rowCount ?? 0, checkedThrough: head };
      });
    },

    async countChanges(after, upTo) {
      // Two statements, not `$2 IS NULL OR ...`: each must be a range of the primary key.
      const [sql, params] =
        upTo === null
          ? [`SELECT count(*)::bigint AS n FROM ${SCHEMA}.changes WHERE server_seq > $1`, [after]]
          : [
              `SELECT count(*)::bigint AS n FROM ${SCHEMA}.changes WHERE server_seq > $1 AND server_seq <= $2`,
              [after, upTo],
            ];
      return run(async (client) => (await client.query<{ n: number }>(sql, params)).rows[0]!.n);
    },
  };
}

/** Change-log compaction of one clinic; `slices` sizes its slices (tests make them small). */
export function postgresCompaction(
  context: PostgresClinicContext,
  slices: CompactionSliceOptions = DEFAULT_COMPACTION_SLICES,
): CompactionStore {
  const port = postgresSlicePort(context);
  return {
    async compactChanges(): Promise<CompactionResult> {
      return compactInSlices(port, slices);
    },
  };
}
