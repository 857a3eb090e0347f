/**
 * The change log on PostgreSQL: group-committed appends (group-commit.ts) numbered under the
 * clinic's change counter lock, pages by server number, the devices' pulled cursors and patients'
 * branches. Fields are stored sealed with the clinic's data key (postgres/sealed-rows.ts): one
 * AES-GCM per change on append, one per change read.
 */
import pg from 'pg';
import type { NumberedChange, StoredChangeDigest } from '../change-append.js';
import { DeviceRevokedError, UnknownDeviceError } from '../errors.js';
import { planGroupAppend } from '../group-append.js';
import { GroupCommit, type GroupOutcome } from '../group-commit.js';
import { type ParsedChangeBatch, parseChangeBatch } from '../parsed-changes.js';
import { type PostgresClinicContext, counterValue, lockCounter } from '../postgres/clinic-transaction.js';
import { SCHEMA } from '../postgres/migrate.js';
import type { ClinicDataKey } from '../postgres/clinic-data-key.js';
import {
  SEALED_CHANGE_COLUMNS,
  type SealedChangeRow,
  openChangeRow,
  patientBranchColumn,
} from '../postgres/sealed-rows.js';
import { type PatientBranchRow, patientBranchesFromRows } from '../quarantine-rows.js';
import {
  type AppendChangesResult,
  type ChangeBatch,
  type ChangePage,
  type PageQuery,
  type PatientBranch,
  type PulledCursor,
  changeIdListSchema,
  pageQuerySchema,
  parseInput,
  pulledCursorInputSchema,
} from '../records.js';
import { PULLED_CURSOR_COLUMNS, type PulledCursorRow, changeFromRow, pulledCursorFromRow } from '../stored-rows.js';
import type { ChangeLogStore, DevicePage } from './change-log-store.js';

/** One group commit of change appends per clinic, shared by every handle of that clinic. */
export type ChangeAppendGroups = Map<string, GroupCommit<ParsedChangeBatch, AppendChangesResult>>;

/** Appends a group of validated batches in one transaction; each batch gets its own outcome. */
function commitChangeAppends(
  { run, clock, dataKey }: PostgresClinicContext,
  batches: readonly ParsedChangeBatch[],
): Promise<Array<GroupOutcome<AppendChangesResult>>> {
  return run(async (client) => {
    // Devices first, then the counter, the lock order of every other write here. One read for
    // every device of the group; FOR SHARE, as requireActiveDevice: a revocation waits for it.
    const refused = new Map<string, unknown>();
    const deviceIds = [...new Set(batches.map((batch) => batch.deviceId))];
    const known = await client.query<{ device_id: string; revoked_at: number | null }>(
      `SELECT device_id, revoked_at FROM ${SCHEMA}.devices WHERE device_id = ANY($1::text[]) FOR SHARE`,
      [deviceIds],
    );
    const revokedAt = new Map(known.rows.map((row) => [row.device_id, row.revoked_at]));
    for (const deviceId of deviceIds) {
      if (!revokedAt.has(deviceId)) refused.set(deviceId, new UnknownDeviceError('no such device in this clinic'));
      else if (revokedAt.get(deviceId) !== null) refused.set(deviceId, new DeviceRevokedError('the device is revoked'));
    }
    // Lock the counter: appends of this clinic run one group at a time from here to commit, so
    // the duplicate checks below see every batch committed before, and the numbers can be
    // counted here and the counter written once.
    const before = await lockCounter(client, 'changes');
    const receivedAt = clock.now();
    // One read of every id of the group; a batch's new changes join this map, so a later batch
    // of the group repeating them is answered as a re-push.
    const stored = new Map<string, StoredChangeDigest>();
    // Compacted changes keep their idempotency record: a re-push of one is answered, not re-inserted.
    const existing = await client.query<{ change_id: string; server_seq: number; content_hash: string }>(
      `SELECT change_id, server_seq, content_hash FROM ${SCHEMA}.changes WHERE change_id = ANY($1::text[])
       UNION ALL
       SELECT change_id, server_seq, content_hash FROM ${SCHEMA}.compacted_changes WHERE change_id = ANY($1::text[])`,
      [batches.flatMap((batch) => batch.changes.map((change) => change.changeId))],
    );
    for (const row of existing.rows) {
      stored.set(row.change_id, { serverSeq: row.server_seq, contentHash: row.content_hash });
    }
    const { inserts, outcomes, counter } = planGroupAppend(batches, stored, refused, before);
    if (inserts.length > 0) {
      const column = <T>(pick: (numbered: NumberedChange) => T) => inserts.map(pick);
      // Sealed here, inside the group's transaction: each change once, bound to its identity.
      const sealed = column((n) => dataKey.sealChangeFields(n.change, n.fieldsJson));
      // The rows and the counter in one statement: one round trip fewer per group, each of which
      // waits behind whatever the event loop is validating meanwhile.
      const advanced = await client.query<{ value: number }>(
        `WITH inserted AS (
           INSERT INTO ${SCHEMA}.changes (${SEALED_CHANGE_COLUMNS}, content_hash, branch_id)
           SELECT seq, change_id, tx_id, device_id, user_id, entity, row_id, op, sealed_fields, hlc, schema_version,
                  $12::bigint, content_hash, branch_id
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::bytea[], $10::text[], $11::integer[], $13::text[], $16::text[])
               AS u(seq, change_id, tx_id, device_id, user_id, entity, row_id, op, sealed_fields, hlc, schema_version,
                    content_hash, branch_id)
         )
         UPDATE ${SCHEMA}.clinic_counters SET value = value + $14 WHERE counter = $15 RETURNING value`,
        [
          column((n) => n.serverSeq),
          column((n) => n.change.changeId),
          column((n) => n.change.txId),
          column((n) => n.change.deviceId),
          column((n) => n.change.userId),
          column((n) => n.change.entity),
          column((n) => n.change.rowId),
          column((n) => n.change.op),
          sealed,
          column((n) => n.change.hlc),
          column((n) => n.change.schemaVersion),
          receivedAt,
          column((n) => n.contentHash),
          counter - before,
          'changes',
          column((n) => patientBranchColumn(n.change.entity, n.change.fields)),
        ],
      );
      // The counter row is locked since lockCounter: anything else is a broken invariant.
      if (Number(advanced.rows[0]?.value) !== counter) throw new Error('the change counter moved under its lock');
    }
    return outcomes;
  });
}

/**
 * The change log of one clinic. Handles are made per request, so the clinic's appends meet in
 * the group commit of `groups` (one per clinic, kept by the storage).
 */
export function postgresChangeLog(context: PostgresClinicContext, groups: ChangeAppendGroups): ChangeLogStore {
  const { run, clock, clinicId, dataKey } = context;
  // Batches pushed at the same time share one transaction and one commit (group-commit.ts).
  const changeAppends = (): GroupCommit<ParsedChangeBatch, AppendChangesResult> => {
    let group = groups.get(clinicId);
    if (!group) {
      group = new GroupCommit(
        (batches) => commitChangeAppends(context, batches),
        (batch) => batch.changes.length,
      );
      groups.set(clinicId, group);
    }
    return group;
  };

  return {
    async appendChanges(input: ChangeBatch): Promise<AppendChangesResult> {
      // Changes the push route already parsed are not parsed again (parsed-changes.ts).
      return changeAppends().submit(parseChangeBatch(input));
    },

    async readPatientBranches(patientIds: readonly string[]): Promise<PatientBranch[]> {
      const ids = parseInput(changeIdListSchema, patientIds);
      // The partial index changes_patient_rows (migration 90) answers this by row id; the branch
      // is the clear branch_id column (migration 110), so no sealed fields are opened here.
      const rows = await run(
        async (client) =>
          (
            await client.query<{ row_id: string; branch_id: string; hlc: string }>(
              `SELECT row_id, branch_id, hlc FROM ${SCHEMA}.changes
                WHERE entity = 'patient' AND row_id = ANY($1::text[]) AND branch_id IS NOT NULL`,
              [ids],
            )
          ).rows,
      );
      return patientBranchesFromRows(
        rows.map((row): PatientBranchRow => ({
          row_id: row.row_id,
          hlc: row.hlc,
          fields: JSON.stringify({ branch_id: row.branch_id }),
        })),
      );
    },

    async pullChanges(query: PageQuery): Promise<ChangePage> {
      const page = parseInput(pageQuerySchema, query);
      return run((client) => readChangePage(client, dataKey, page));
    },

    async latestChangeSeq(): Promise<number> {
      return run((client) => counterValue(client, 'changes'));
    },

    async recordPulledCursor(deviceId: string, after: number): Promise<void> {
      const cursor = parseInput(pulledCursorInputSchema, { deviceId, after });
      await run((client) => raisePulledCursor(client, cursor, clock.now()));
    },

    async pullChangesForDevice(deviceId: string, query: PageQuery): Promise<DevicePage> {
      const cursor = parseInput(pulledCursorInputSchema, { deviceId, after: query.after });
      const page = parseInput(pageQuerySchema, query);
      // One transaction for both: a separate one for the cursor cost the live channel six round trips a pull.
      return run(async (client) => {
        const pulledBefore = await raisePulledCursor(client, cursor, clock.now());
        return { ...(await readChangePage(client, dataKey, page)), pulledBefore };
      });
    },

    async listPulledCursors(): Promise<PulledCursor[]> {
      const rows = await run(
        async (client) =>
          (
            await client.query<PulledCursorRow>(
              `SELECT ${PULLED_CURSOR_COLUMNS} FROM ${SCHEMA}.device_cursors ORDER BY device_id`,
            )
          ).rows,
      );
      return rows.map(pulledCursorFromRow);
    },
  };
}

/** One page of the change log after `after` (inside a clinic transaction). */
async function readChangePage(
  client: pg.ClientBase,
  dataKey: ClinicDataKey,
  { after, limit }: { after: number; limit: number },
) {
  // A page is a short range of the primary key in key order. Right after a bulk load (a clinic
  // connecting, before autovacuum analyzes the table) the planner's estimate is far too low and
  // it picks a bitmap scan that sorts every change after the cursor: 30-130 ms a page instead
  // of under 1 ms, measured at 60,000-200,000 changes. Ruled out for this transaction only.
  await client.query('SET LOCAL enable_bitmapscan = off');
  const rows = (
    await client.query<SealedChangeRow>(
      `SELECT ${SEALED_CHANGE_COLUMNS} FROM ${SCHEMA}.changes WHERE server_seq > $1 ORDER BY server_seq LIMIT $2`,
      [after, limit + 1],
    )
  ).rows;
  const changes = rows.slice(0, limit).map((row) => changeFromRow(openChangeRow(dataKey, row)));
  return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.serverSeq ?? after };
}

/** Raises a device's pulled cursor (never lowers it, never past the counter), inside a clinic transaction. */
/** Raises the device's cursor; returns the one it had recorded before (null: none). */
async function raisePulledCursor(
  client: pg.ClientBase,
  cursor: { deviceId: string; after: number },
  now: number,
): Promise<number | null> {
  // Most pulls repeat the cursor (polling rounds): a read, without the row lock of an upsert.
  const stored = await client.query<{ pulled_after: string | number }>(
    `SELECT pulled_after FROM ${SCHEMA}.device_cursors WHERE device_id = $1`,
    [cursor.deviceId],
  );
  const before = stored.rows[0] === undefined ? null : Number(stored.rows[0].pulled_after);
  if (before !== null && before >= cursor.after) return before;
  // A cursor is a lower bound for compaction: one lost in a crash only holds the horizon back,
  // so its commit does not wait for the WAL flush (one per pulled page otherwise).
  await client.query('SET LOCAL synchronous_commit = off');
  try {
    // Capped at the counter; a cursor that does not advance (a concurrent pull raised it) updates nothing.
    await client.query(
      `INSERT INTO ${SCHEMA}.device_cursors (device_id, pulled_after, updated_at)
       VALUES ($1, LEAST($2::bigint, (SELECT value FROM ${SCHEMA}.clinic_counters WHERE counter = 'changes')), $3)
       ON CONFLICT (clinic_id, device_id) DO UPDATE
         SET pulled_after = excluded.pulled_after, updated_at = excluded.updated_at
         WHERE excluded.pulled_after > ${SCHEMA}.device_cursors.pulled_after`,
      [cursor.deviceId, cursor.after, now],
    );
  } catch (error) {
    if (error instanceof pg.DatabaseError && error.code === '23503') {
      throw new UnknownDeviceError('no such device in this clinic');
    }
    throw error;
  }
  return before;
}
