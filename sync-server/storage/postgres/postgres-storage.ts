/**
 * PostgreSQL storage, for several stateless server instances sharing one database. Every table
 * carries clinic_id under FORCED row-level security (migrations/tenant-table.ts); the server
 * connects as an app role that owns nothing, cannot bypass row security, and may only insert
 * into and read the log tables. Every ClinicStore operation is one transaction that first runs
 * `SELECT set_config('chairside.clinic_id', $1, true)` (SET LOCAL, parameterized), so a query
 * that forgot its clinic still sees only this clinic's rows. The queries below never name a
 * clinic: the policy filters reads and the column default fills inserts.
 *
 * What this guards against: a bug in a query (a missing filter, a wrong join). It does not
 * guard against an attacker running arbitrary SQL as the app role, who could set any clinic;
 * that is kept out by parameterized SQL only.
 *
 * Per-clinic counters are rows of clinic_counters, locked inside the append transaction
 * (`SELECT ... FOR UPDATE`, then `UPDATE ... RETURNING`), so appends of one clinic serialise and
 * commit in the order of their numbers: a reader paging by server_seq never skips a row that
 * commits later with a smaller number, as it could with a bare sequence.
 */
import pg from 'pg';
import type { Clock } from '../../../shared/clock.js';
import { auditLeafHash, overlapRange, planAuditAppend } from '../audit-append.js';
import { challengeNonceInputSchema } from '../challenge-nonce.js';
import type { NumberedChange, StoredChangeDigest } from '../change-append.js';
import {
  COMPACTABLE_ENTITIES,
  COMPACTION_COLUMNS,
  type CompactionRow,
  compactionCandidateFromRow,
  compactionHorizon,
  planCompaction,
} from '../change-compaction.js';
import { generateEnrollmentCode, hashEnrollmentCode } from '../enrollment-code.js';
import { planGroupAppend } from '../group-append.js';
import { GroupCommit, type GroupOutcome } from '../group-commit.js';
import { type ParsedChangeBatch, parseChangeBatch } from '../parsed-changes.js';
import { checkLeafRange, leafHashesFromRows } from '../leaf-range.js';
import { newUuid } from '../node-crypto.js';
import {
  type DirectoryRow,
  type PatientBranchRow,
  type QuarantineRow,
  QUARANTINE_COLUMNS,
  directoryUserFromRow,
  patientBranchesFromRows,
  freshQuarantineEntries,
  inBatchOrder,
  quarantinedFromRow,
} from '../quarantine-rows.js';
import {
  type AppendAuditResult,
  type AppendChangesResult,
  type AuditBatch,
  type AuditChainHead,
  type AuditEntryPage,
  type AuditEntryRecord,
  type ChangeBatch,
  type ChangePage,
  type CheckpointInput,
  type CheckpointRecord,
  type Clinic,
  type ClinicStore,
  type CreateClinicInput,
  type CreateEnrollmentCodeInput,
  type CreatedEnrollmentCode,
  type Device,
  type EnrolledDevice,
  type EnrollmentCodeRecord,
  type PageQuery,
  type RedeemEnrollmentCodeInput,
  type RevokeDeviceInput,
  type SecurityEvent,
  type SecurityEventInput,
  type SecurityEventPage,
  type SyncStorage,
  type DirectoryLookup,
  type DirectoryUpdate,
  type PatientBranch,
  type QuarantineBatch,
  type QuarantinePage,
  type QuarantineQuery,
  type QuarantineResult,
  type QuarantinedChange,
  type CompactionResult,
  type PulledCursor,
  pulledCursorInputSchema,
  changeIdListSchema,
  directoryUpdateSchema,
  quarantineBatchSchema,
  quarantineQuerySchema,
  CheckpointRejectedError,
  DeviceRevokedError,
  DuplicateDeviceError,
  EnrollmentCodeError,
  UnknownClinicError,
  UnknownDeviceError,
  auditBatchSchema,
  auditChainHeadSchema,
  checkpointInputSchema,
  clinicIdSchema,
  clinicSchema,
  createClinicInputSchema,
  createEnrollmentCodeInputSchema,
  deviceIdSchema,
  enrollmentCodeRecordSchema,
  pageQuerySchema,
  parseInput,
  parseStoredRow,
  redeemEnrollmentCodeInputSchema,
  revokeDeviceInputSchema,
  securityEventInputSchema,
} from '../storage.js';
import { SCHEMA } from './migrate.js';
import { AUTH_SCHEMA } from './migrations/0080-auth-state.js';
import {
  type DeviceRow,
  type ChangeRow,
  type AuditEntryRow,
  type CheckpointRow,
  type SecurityEventRow,
  DEVICE_COLUMNS,
  CHANGE_COLUMNS,
  AUDIT_ENTRY_COLUMNS,
  CHECKPOINT_COLUMNS,
  deviceFromRow,
  changeFromRow,
  auditEntryFromRow,
  checkpointFromRow,
  securityEventFromRow,
  type Counter,
  PULLED_CURSOR_COLUMNS,
  type PulledCursorRow,
  pulledCursorFromRow,
} from '../stored-rows.js';

/** How to reach the database, as the app role, and the server clock. */
export interface PostgresSyncStorageOptions {
  /** Connection settings of the app role (never the owner or a superuser). */
  readonly connection: pg.PoolConfig;
  readonly clock: Clock;
}

/** Thrown at open when the configured role could bypass row-level security. */
export class UnconfinedRoleError extends Error {
  override readonly name = 'UnconfinedRoleError';
}

// Any constant: the advisory lock taken by whichever transaction purges expired nonces.
const NONCE_PURGE_LOCK = 4_242_002;

const INT8_OID = 20;
// bigint columns (sequence numbers, times in ms) as JS numbers; a value past 2^53 is refused
// rather than rounded.
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') {
      return (text: string) => {
        const value = Number(text);
        if (!Number.isSafeInteger(value)) throw new RangeError('a bigint column holds a value past 2^53');
        return value;
      };
    }
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Opens the storage; refuses a role that is a superuser, bypasses row security, or owns (or
 * may become the owner of) any of the storage's tables, since RLS would not bind it.
 */
export async function openPostgresSyncStorage(options: PostgresSyncStorageOptions): Promise<SyncStorage> {
  const pool = new pg.Pool({ ...options.connection, types });
  // An idle client dropped by the server must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  try {
    const { rows } = await pool.query<{ rolsuper: boolean; rolbypassrls: boolean; owns: boolean }>(
      `SELECT r.rolsuper, r.rolbypassrls,
              EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = $1 AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS owns
         FROM pg_roles r WHERE r.rolname = current_user`,
      [SCHEMA],
    );
    const role = rows[0];
    if (!role || role.rolsuper || role.rolbypassrls || role.owns) {
      throw new UnconfinedRoleError('the sync server must connect as a role that row-level security binds');
    }
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresSyncStorage(pool, options.clock);
}

type Settings = ReadonlyArray<readonly [name: string, value: string]>;
type Run = <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;

/** Runs fn in a transaction on its own connection after setting each custom setting for that transaction only. */
async function inTransaction<T>(
  pool: pg.Pool,
  settings: Settings,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    try {
      await client.query('BEGIN');
      for (const [name, value] of settings) await client.query('SELECT set_config($1, $2, true)', [name, value]);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    }
  } finally {
    // A connection whose rollback failed is discarded, never handed to the next clinic.
    client.release(broken);
  }
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  return error instanceof pg.DatabaseError && error.code === '23505' && error.constraint === constraint;
}

interface ClinicRow {
  readonly clinic_id: string;
  readonly name: string;
  readonly created_at: number;
}

const clinicFromRow = (row: ClinicRow): Clinic =>
  parseStoredRow(clinicSchema, { clinicId: row.clinic_id, name: row.name, createdAt: row.created_at }, 'clinic');

/** One group commit of change appends per clinic, shared by every handle of that clinic. */
type ChangeAppendGroups = Map<string, GroupCommit<ParsedChangeBatch, AppendChangesResult>>;

class PostgresSyncStorage implements SyncStorage {
  // Handles are made per request; the clinic's appends must still meet in one queue.
  private readonly changeAppendGroups: ChangeAppendGroups = new Map();

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {}

  async createClinic(input: CreateClinicInput): Promise<Clinic> {
    const { name } = parseInput(createClinicInputSchema, input);
    const clinic: Clinic = { clinicId: newUuid(), name, createdAt: this.clock.now() };
    await inTransaction(this.pool, [['chairside.clinic_id', clinic.clinicId]], async (client) => {
      await client.query(`INSERT INTO ${SCHEMA}.clinics (clinic_id, name, created_at) VALUES ($1, $2, $3)`, [
        clinic.clinicId,
        clinic.name,
        clinic.createdAt,
      ]);
      await client.query(
        `INSERT INTO ${SCHEMA}.clinic_counters (counter, value)
         VALUES ('changes', 0), ('audit_leaves', 0), ('security_events', 0)`,
      );
    });
    return clinic;
  }

  async listClinics(): Promise<Clinic[]> {
    // The one cross-clinic read: clinic records only, under the catalog scope (see the migration).
    const rows = await inTransaction(this.pool, [['chairside.scope', 'catalog']], async (client) => {
      return (
        await client.query<ClinicRow>(
          `SELECT clinic_id, name, created_at FROM ${SCHEMA}.clinics ORDER BY created_at, clinic_id`,
        )
      ).rows;
    });
    return rows.map(clinicFromRow);
  }

  async getClinic(clinicId: string): Promise<Clinic | null> {
    if (!clinicIdSchema.safeParse(clinicId).success) return null;
    const row = await inTransaction(this.pool, [['chairside.clinic_id', clinicId]], async (client) => {
      return (await client.query<ClinicRow>(`SELECT clinic_id, name, created_at FROM ${SCHEMA}.clinics`)).rows[0];
    });
    return row ? clinicFromRow(row) : null;
  }

  async clinic(clinicId: string): Promise<ClinicStore> {
    if (!(await this.getClinic(clinicId))) throw new UnknownClinicError('no such clinic');
    return this.storeFor(clinicId);
  }

  async redeemEnrollmentCode(input: RedeemEnrollmentCodeInput): Promise<EnrolledDevice> {
    const parsed = parseInput(redeemEnrollmentCodeInputSchema, input);
    const codeHash = hashEnrollmentCode(parsed.code);
    if (codeHash === null) throw new EnrollmentCodeError('unknown');
    // Presenting the hash makes that one code row visible (its policy); the rest of the
    // transaction runs as the code's clinic.
    return inTransaction(this.pool, [['chairside.enrollment_code_hash', codeHash]], async (client) => {
      const code = (
        await client.query<{ clinic_id: string; code_id: string; expires_at: number; redeemed_at: number | null }>(
          `SELECT clinic_id, code_id, expires_at, redeemed_at FROM ${SCHEMA}.enrollment_codes
            WHERE code_hash = $1 FOR UPDATE`,
          [codeHash],
        )
      ).rows[0];
      if (!code) throw new EnrollmentCodeError('unknown');
      await client.query('SELECT set_config($1, $2, true)', ['chairside.clinic_id', code.clinic_id]);
      const now = this.clock.now();
      if (code.redeemed_at !== null) throw new EnrollmentCodeError('redeemed');
      if (now >= code.expires_at) throw new EnrollmentCodeError('expired');
      if ((await client.query(`SELECT 1 FROM ${SCHEMA}.devices WHERE device_id = $1`, [parsed.deviceId])).rowCount) {
        throw new DuplicateDeviceError('this device id is already enrolled');
      }
      await client.query(
        `UPDATE ${SCHEMA}.enrollment_codes SET redeemed_at = $1, redeemed_by_device = $2 WHERE code_id = $3`,
        [now, parsed.deviceId, code.code_id],
      );
      // The clinic's device counter row is locked until commit, so concurrent redemptions take
      // consecutive numbers (migration 0070).
      const deviceNumber = (
        await client.query<{ value: number }>(
          `INSERT INTO ${SCHEMA}.clinic_counters (counter, value) VALUES ('devices', 1)
           ON CONFLICT (clinic_id, counter) DO UPDATE SET value = clinic_counters.value + 1 RETURNING value`,
        )
      ).rows[0]!.value;
      try {
        const row = (
          await client.query<DeviceRow>(
            `INSERT INTO ${SCHEMA}.devices (device_id, name, public_key, enrollment_code_id, enrolled_at, device_number)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${DEVICE_COLUMNS}`,
            [parsed.deviceId, parsed.name, Buffer.from(parsed.publicKey), code.code_id, now, deviceNumber],
          )
        ).rows[0]!;
        return { clinicId: code.clinic_id, device: deviceFromRow(row) };
      } catch (error) {
        // Two codes enrolling one device id at once: the loser sees the key violation.
        if (isUniqueViolation(error, 'devices_pkey'))
          throw new DuplicateDeviceError('this device id is already enrolled');
        throw error;
      }
    });
  }

  async consumeChallengeNonce(nonce: string, expiresAt: number): Promise<boolean> {
    const parsed = parseInput(challengeNonceInputSchema, { nonce, expiresAt });
    const now = this.clock.now();
    if (parsed.expiresAt <= now) return false;
    // The primary key decides between processes: a concurrent insert of the same nonce waits for
    // the first to commit, then inserts nothing. One transaction at a time purges (whoever gets
    // the advisory lock; the others skip it), so two purges never wait on or deadlock each other.
    return inTransaction(this.pool, [], async (client) => {
      const { rows } = await client.query<{ purging: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS purging', [
        NONCE_PURGE_LOCK,
      ]);
      if (rows[0]?.purging) {
        await client.query(`DELETE FROM ${AUTH_SCHEMA}.used_challenge_nonces WHERE expires_at <= $1`, [now]);
      }
      const inserted = await client.query(
        `INSERT INTO ${AUTH_SCHEMA}.used_challenge_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING`,
        [parsed.nonce, parsed.expiresAt],
      );
      return inserted.rowCount === 1;
    });
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  private storeFor(clinicId: string): PostgresClinicStore {
    const run: Run = (fn) => inTransaction(this.pool, [['chairside.clinic_id', clinicId]], fn);
    return new PostgresClinicStore(clinicId, run, this.clock, this.changeAppendGroups);
  }
}

/** One clinic's view of the database: every call is a transaction with this clinic set. */
class PostgresClinicStore implements ClinicStore {
  constructor(
    readonly clinicId: string,
    private readonly run: Run,
    private readonly clock: Clock,
    private readonly changeAppendGroups: ChangeAppendGroups,
  ) {}

  async getClinic(): Promise<Clinic> {
    const row = await this.run(
      async (client) =>
        (await client.query<ClinicRow>(`SELECT clinic_id, name, created_at FROM ${SCHEMA}.clinics`)).rows[0],
    );
    if (!row) throw new UnknownClinicError('no such clinic');
    return clinicFromRow(row);
  }

  async createEnrollmentCode(input: CreateEnrollmentCodeInput): Promise<CreatedEnrollmentCode> {
    const { ttlMs, createdBy } = parseInput(createEnrollmentCodeInputSchema, input);
    const code = generateEnrollmentCode();
    const createdAt = this.clock.now();
    const record: EnrollmentCodeRecord = {
      codeId: newUuid(),
      createdAt,
      expiresAt: createdAt + ttlMs,
      createdBy,
      redeemedAt: null,
      redeemedByDevice: null,
    };
    await this.run((client) =>
      client.query(
        `INSERT INTO ${SCHEMA}.enrollment_codes (code_id, code_hash, created_at, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5)`,
        [record.codeId, hashEnrollmentCode(code), record.createdAt, record.expiresAt, record.createdBy],
      ),
    );
    return { code, record };
  }

  async listEnrollmentCodes(): Promise<EnrollmentCodeRecord[]> {
    const rows = await this.run(
      async (client) =>
        (
          await client.query<{
            code_id: string;
            created_at: number;
            expires_at: number;
            created_by: string | null;
            redeemed_at: number | null;
            redeemed_by_device: string | null;
          }>(
            `SELECT code_id, created_at, expires_at, created_by, redeemed_at, redeemed_by_device
               FROM ${SCHEMA}.enrollment_codes ORDER BY created_at, code_id`,
          )
        ).rows,
    );
    return rows.map((row) =>
      parseStoredRow(
        enrollmentCodeRecordSchema,
        {
          codeId: row.code_id,
          createdAt: row.created_at,
          expiresAt: row.expires_at,
          createdBy: row.created_by,
          redeemedAt: row.redeemed_at,
          redeemedByDevice: row.redeemed_by_device,
        },
        'enrollment code',
      ),
    );
  }

  async getDevice(deviceId: string): Promise<Device | null> {
    if (!deviceIdSchema.safeParse(deviceId).success) return null;
    return this.run((client) => readDevice(client, deviceId));
  }

  async listDevices(): Promise<Device[]> {
    const rows = await this.run(
      async (client) =>
        (
          await client.query<DeviceRow>(
            `SELECT ${DEVICE_COLUMNS} FROM ${SCHEMA}.devices ORDER BY enrolled_at, device_id`,
          )
        ).rows,
    );
    return rows.map(deviceFromRow);
  }

  async revokeDevice(input: RevokeDeviceInput): Promise<Device> {
    const { deviceId, reason } = parseInput(revokeDeviceInputSchema, input);
    return this.run(async (client) => {
      const row = (
        await client.query<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM ${SCHEMA}.devices WHERE device_id = $1 FOR UPDATE`,
          [deviceId],
        )
      ).rows[0];
      if (!row) throw new UnknownDeviceError('no such device in this clinic');
      if (row.revoked_at !== null) return deviceFromRow(row);
      const updated = await client.query<DeviceRow>(
        `UPDATE ${SCHEMA}.devices SET revoked_at = $1, revoked_reason = $2 WHERE device_id = $3 RETURNING ${DEVICE_COLUMNS}`,
        [this.clock.now(), reason, deviceId],
      );
      return deviceFromRow(updated.rows[0]!);
    });
  }

  async isDeviceRevoked(deviceId: string): Promise<boolean> {
    if (!deviceIdSchema.safeParse(deviceId).success) return true;
    const row = await this.run(
      async (client) =>
        (
          await client.query<{ revoked_at: number | null }>(
            `SELECT revoked_at FROM ${SCHEMA}.devices WHERE device_id = $1`,
            [deviceId],
          )
        ).rows[0],
    );
    return !row || row.revoked_at !== null;
  }

  // Batches pushed at the same time share one transaction and one commit (group-commit.ts).
  private get changeAppends(): GroupCommit<ParsedChangeBatch, AppendChangesResult> {
    let group = this.changeAppendGroups.get(this.clinicId);
    if (!group) {
      group = new GroupCommit(
        (batches) => this.commitChangeAppends(batches),
        (batch) => batch.changes.length,
      );
      this.changeAppendGroups.set(this.clinicId, group);
    }
    return group;
  }

  /** Appends a group of validated batches in one transaction; each batch gets its own outcome. */
  private commitChangeAppends(
    batches: readonly ParsedChangeBatch[],
  ): Promise<Array<GroupOutcome<AppendChangesResult>>> {
    return this.run(async (client) => {
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
        else if (revokedAt.get(deviceId) !== null)
          refused.set(deviceId, new DeviceRevokedError('the device is revoked'));
      }
      // Lock the counter: appends of this clinic run one group at a time from here to commit, so
      // the duplicate checks below see every batch committed before, and the numbers can be
      // counted here and the counter written once.
      const before = await lockCounter(client, 'changes');
      const receivedAt = this.clock.now();
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
        // The rows and the counter in one statement: one round trip fewer per group, each of which
        // waits behind whatever the event loop is validating meanwhile.
        const advanced = await client.query<{ value: number }>(
          `WITH inserted AS (
             INSERT INTO ${SCHEMA}.changes (${CHANGE_COLUMNS}, content_hash)
             SELECT seq, change_id, tx_id, device_id, user_id, entity, row_id, op, fields, hlc, schema_version,
                    $12::bigint, content_hash
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                           $8::text[], $9::text[], $10::text[], $11::integer[], $13::text[])
                 AS u(seq, change_id, tx_id, device_id, user_id, entity, row_id, op, fields, hlc, schema_version,
                      content_hash)
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
            column((n) => n.fieldsJson),
            column((n) => n.change.hlc),
            column((n) => n.change.schemaVersion),
            receivedAt,
            column((n) => n.contentHash),
            counter - before,
            'changes',
          ],
        );
        // The counter row is locked since lockCounter: anything else is a broken invariant.
        if (Number(advanced.rows[0]?.value) !== counter) throw new Error('the change counter moved under its lock');
      }
      return outcomes;
    });
  }

  async appendChanges(input: ChangeBatch): Promise<AppendChangesResult> {
    // Changes the push route already parsed are not parsed again (parsed-changes.ts).
    return this.changeAppends.submit(parseChangeBatch(input));
  }

  async quarantineChanges(input: QuarantineBatch): Promise<QuarantineResult> {
    const batch = parseInput(quarantineBatchSchema, input);
    const ids = batch.entries.map((entry) => entry.change.changeId);
    return this.run(async (client): Promise<QuarantineResult> => {
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
      const select = `SELECT ${QUARANTINE_COLUMNS} FROM ${SCHEMA}.quarantined_changes WHERE change_id = ANY($1::text[])`;
      const stored = (await client.query<QuarantineRow>(select, [ids])).rows;
      const fresh = freshQuarantineEntries(batch, stored);
      const now = this.clock.now();
      for (const { entry, contentHash } of fresh) {
        const { change } = entry;
        await client.query(
          `INSERT INTO ${SCHEMA}.quarantined_changes
             (change_id, tx_id, device_id, user_id, entity, row_id, op, hlc, reason, detail, content_hash, quarantined_at)
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
            entry.detail,
            contentHash,
            now,
          ],
        );
      }
      return {
        outcome: 'quarantined',
        changes: inBatchOrder(batch, (await client.query<QuarantineRow>(select, [ids])).rows),
      };
    });
  }

  async findQuarantinedChanges(changeIds: readonly string[]): Promise<QuarantinedChange[]> {
    const ids = parseInput(changeIdListSchema, changeIds);
    const rows = await this.run(
      async (client) =>
        (
          await client.query<QuarantineRow>(
            `SELECT ${QUARANTINE_COLUMNS} FROM ${SCHEMA}.quarantined_changes
              WHERE change_id = ANY($1::text[]) ORDER BY quarantine_seq`,
            [ids],
          )
        ).rows,
    );
    return rows.map(quarantinedFromRow);
  }

  async listQuarantinedChanges(query: QuarantineQuery): Promise<QuarantinePage> {
    const { deviceId, after, limit } = parseInput(quarantineQuerySchema, query);
    const rows = await this.run(
      async (client) =>
        (
          await client.query<QuarantineRow>(
            `SELECT ${QUARANTINE_COLUMNS} FROM ${SCHEMA}.quarantined_changes
              WHERE device_id = $1 AND quarantine_seq > $2 ORDER BY quarantine_seq LIMIT $3`,
            [deviceId, after, limit + 1],
          )
        ).rows,
    );
    const changes = rows.slice(0, limit).map(quarantinedFromRow);
    return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.quarantineSeq ?? after };
  }

  async readUserDirectory(userIds: readonly string[]): Promise<DirectoryLookup> {
    const ids = parseInput(changeIdListSchema, userIds);
    return this.run(async (client) => {
      const rows = (
        await client.query<DirectoryRow>(
          `SELECT user_id, role, role_hlc, all_branches, branch_ids, updated_at FROM ${SCHEMA}.user_directory
            WHERE user_id = ANY($1::text[]) ORDER BY user_id`,
          [ids],
        )
      ).rows;
      const size = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.user_directory`))
        .rows[0]!.n;
      return { users: rows.map(directoryUserFromRow), size };
    });
  }

  async updateUserDirectory(input: DirectoryUpdate): Promise<void> {
    const entries = parseInput(directoryUpdateSchema, input);
    await this.run(async (client) => {
      const now = this.clock.now();
      // The role first: it creates the row the branch values are set on.
      for (const entry of entries) {
        if (entry.role !== undefined) {
          await client.query(
            `INSERT INTO ${SCHEMA}.user_directory (user_id, role, role_hlc, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (clinic_id, user_id) DO UPDATE
               SET role = excluded.role, role_hlc = excluded.role_hlc, updated_at = excluded.updated_at
               WHERE excluded.role_hlc > ${SCHEMA}.user_directory.role_hlc`,
            [entry.userId, entry.role, entry.roleHlc, now],
          );
        }
        if (entry.allBranches) {
          await client.query(
            `UPDATE ${SCHEMA}.user_directory SET all_branches = $1, all_branches_hlc = $2, updated_at = $3
              WHERE user_id = $4 AND (all_branches_hlc IS NULL OR all_branches_hlc < $2)`,
            [entry.allBranches.value, entry.allBranches.hlc, now, entry.userId],
          );
        }
        if (entry.branchIds) {
          await client.query(
            `UPDATE ${SCHEMA}.user_directory SET branch_ids = $1, branch_ids_hlc = $2, updated_at = $3
              WHERE user_id = $4 AND (branch_ids_hlc IS NULL OR branch_ids_hlc < $2)`,
            [JSON.stringify(entry.branchIds.value), entry.branchIds.hlc, now, entry.userId],
          );
        }
      }
    });
  }

  async readPatientBranches(patientIds: readonly string[]): Promise<PatientBranch[]> {
    const ids = parseInput(changeIdListSchema, patientIds);
    // The partial index changes_patient_rows (migration 90) answers this by row id.
    const rows = await this.run(
      async (client) =>
        (
          await client.query<PatientBranchRow>(
            `SELECT row_id, fields, hlc FROM ${SCHEMA}.changes
              WHERE entity = 'patient' AND row_id = ANY($1::text[]) AND fields::jsonb ? 'branch_id'`,
            [ids],
          )
        ).rows,
    );
    return patientBranchesFromRows(rows);
  }

  async pullChanges(query: PageQuery): Promise<ChangePage> {
    const page = parseInput(pageQuerySchema, query);
    return this.run((client) => readChangePage(client, page));
  }

  async latestChangeSeq(): Promise<number> {
    return this.run((client) => counterValue(client, 'changes'));
  }

  async recordPulledCursor(deviceId: string, after: number): Promise<void> {
    const cursor = parseInput(pulledCursorInputSchema, { deviceId, after });
    await this.run((client) => raisePulledCursor(client, cursor, this.clock.now()));
  }

  async pullChangesForDevice(deviceId: string, query: PageQuery): Promise<ChangePage> {
    const cursor = parseInput(pulledCursorInputSchema, { deviceId, after: query.after });
    const page = parseInput(pageQuerySchema, query);
    // One transaction for both: a separate one for the cursor cost the live channel six round trips a pull.
    return this.run(async (client) => {
      await raisePulledCursor(client, cursor, this.clock.now());
      return readChangePage(client, page);
    });
  }

  async listPulledCursors(): Promise<PulledCursor[]> {
    const rows = await this.run(
      async (client) =>
        (
          await client.query<PulledCursorRow>(
            `SELECT ${PULLED_CURSOR_COLUMNS} FROM ${SCHEMA}.device_cursors ORDER BY device_id`,
          )
        ).rows,
    );
    return rows.map(pulledCursorFromRow);
  }

  async compactChanges(): Promise<CompactionResult> {
    return this.run(async (client): Promise<CompactionResult> => {
      // The change counter's lock: appends and quarantines of this clinic wait, so a re-push never
      // looks for a change between its leaving `changes` and its record appearing.
      await lockCounter(client, 'changes');
      const devices = await client.query<{ revoked_at: number | null; pulled_after: number | null }>(
        `SELECT d.revoked_at, c.pulled_after FROM ${SCHEMA}.devices d
           LEFT JOIN ${SCHEMA}.device_cursors c ON c.clinic_id = d.clinic_id AND c.device_id = d.device_id`,
      );
      const horizon = compactionHorizon(
        devices.rows.map((row) => ({ revoked: row.revoked_at !== null, pulledAfter: row.pulled_after })),
      );
      let removed: number[] = [];
      if (horizon > 0) {
        const rows = await client.query<CompactionRow>(
          `SELECT ${COMPACTION_COLUMNS} FROM ${SCHEMA}.changes WHERE entity = ANY($1::text[]) ORDER BY server_seq`,
          [COMPACTABLE_ENTITIES],
        );
        removed = planCompaction(rows.rows.map(compactionCandidateFromRow), horizon);
        if (removed.length > 0) {
          await client.query(
            `INSERT INTO ${SCHEMA}.compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
             SELECT server_seq, change_id, device_id, content_hash, $2 FROM ${SCHEMA}.changes
              WHERE server_seq = ANY($1::bigint[])`,
            [removed, this.clock.now()],
          );
          // The trigger on changes lets a row go only once its record is in compacted_changes.
          await client.query(`DELETE FROM ${SCHEMA}.changes WHERE server_seq = ANY($1::bigint[])`, [removed]);
        }
      }
      const kept = await client.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${SCHEMA}.changes`);
      return { horizon, removed: removed.length, kept: kept.rows[0]!.n };
    });
  }

  async auditChainHead(deviceId: string, epoch: number): Promise<AuditChainHead | null> {
    if (!deviceIdSchema.safeParse(deviceId).success || !Number.isSafeInteger(epoch)) return null;
    return this.run((client) => readHead(client, deviceId, epoch));
  }

  async appendAuditEntries(input: AuditBatch): Promise<AppendAuditResult> {
    const batch = parseInput(auditBatchSchema, input);
    return this.run(async (client) => {
      await requireActiveDevice(client, batch.deviceId);
      // The leaf counter's lock serialises audit appends (and checkpoints) of this clinic.
      await lockCounter(client, 'audit_leaves');
      const newest = await client.query<{ epoch: number | null }>(
        `SELECT max(epoch) AS epoch FROM ${SCHEMA}.audit_heads WHERE device_id = $1`,
        [batch.deviceId],
      );
      const head = await readHead(client, batch.deviceId, batch.epoch);
      const overlap = overlapRange(batch, head);
      const storedHashes = new Map<number, string>();
      if (overlap) {
        const rows = await client.query<{ seq: number; hash: string }>(
          `SELECT seq, hash FROM ${SCHEMA}.audit_entries WHERE device_id = $1 AND epoch = $2 AND seq BETWEEN $3 AND $4`,
          [batch.deviceId, batch.epoch, overlap[0], overlap[1]],
        );
        for (const row of rows.rows) storedHashes.set(row.seq, row.hash);
      }
      const plan = planAuditAppend(batch, { newestEpoch: newest.rows[0]?.epoch ?? null, head, storedHashes });
      if (plan.fresh.length === 0) return { appended: [], duplicates: plan.duplicates, head: head! };

      const receivedAt = this.clock.now();
      const firstLeaf = (await advanceCounter(client, 'audit_leaves', plan.fresh.length)) - plan.fresh.length;
      const appended = plan.fresh.map((entry, i): AuditEntryRecord => ({
        deviceId: batch.deviceId,
        epoch: batch.epoch,
        seq: entry.seq,
        body: entry.body,
        prevHash: entry.prevHash,
        hash: entry.hash,
        deviceTime: entry.deviceTime,
        receivedAt,
        leafIndex: firstLeaf + i,
      }));
      await client.query(
        `INSERT INTO ${SCHEMA}.audit_leaves (leaf_index, leaf_hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
        [appended.map((record) => record.leafIndex), appended.map((record) => Buffer.from(auditLeafHash(record)))],
      );
      await client.query(
        `INSERT INTO ${SCHEMA}.audit_entries (${AUDIT_ENTRY_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                              $7::bigint[], $8::bigint[], $9::bigint[])`,
        [
          appended.map((r) => r.deviceId),
          appended.map((r) => r.epoch),
          appended.map((r) => r.seq),
          appended.map((r) => r.body),
          appended.map((r) => r.prevHash),
          appended.map((r) => r.hash),
          appended.map((r) => r.deviceTime),
          appended.map((r) => r.receivedAt),
          appended.map((r) => r.leafIndex),
        ],
      );
      const last = appended.at(-1)!;
      const newHead: AuditChainHead = { seq: last.seq, hash: last.hash };
      if (head) {
        await client.query(
          `UPDATE ${SCHEMA}.audit_heads SET head_seq = $1, head_hash = $2, updated_at = $3 WHERE device_id = $4 AND epoch = $5`,
          [newHead.seq, newHead.hash, receivedAt, batch.deviceId, batch.epoch],
        );
      } else {
        await client.query(
          `INSERT INTO ${SCHEMA}.audit_heads (device_id, epoch, head_seq, head_hash, updated_at) VALUES ($1, $2, $3, $4, $5)`,
          [batch.deviceId, batch.epoch, newHead.seq, newHead.hash, receivedAt],
        );
      }
      return { appended, duplicates: plan.duplicates, head: newHead };
    });
  }

  async listAuditEntries(query: PageQuery): Promise<AuditEntryPage> {
    const { after, limit } = parseInput(pageQuerySchema, query);
    const rows = await this.run(
      async (client) =>
        (
          await client.query<AuditEntryRow>(
            `SELECT ${AUDIT_ENTRY_COLUMNS} FROM ${SCHEMA}.audit_entries WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2`,
            [after, limit + 1],
          )
        ).rows,
    );
    const entries = rows.slice(0, limit).map(auditEntryFromRow);
    const last = entries.at(-1);
    return { entries, hasMore: rows.length > limit, cursor: last ? last.leafIndex + 1 : after };
  }

  async auditLogSize(): Promise<number> {
    return this.run((client) => counterValue(client, 'audit_leaves'));
  }

  async auditLeafHashes(start: number, end: number): Promise<Uint8Array[]> {
    return this.run(async (client) => {
      checkLeafRange(start, end, await counterValue(client, 'audit_leaves'));
      const rows = await client.query<{ leaf_index: number; leaf_hash: Buffer }>(
        `SELECT leaf_index, leaf_hash FROM ${SCHEMA}.audit_leaves
          WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index`,
        [start, end],
      );
      return leafHashesFromRows(rows.rows, start, end);
    });
  }

  async storeCheckpoint(input: CheckpointInput): Promise<CheckpointRecord> {
    const checkpoint = parseInput(checkpointInputSchema, input);
    return this.run(async (client) => {
      const size = await lockCounter(client, 'audit_leaves');
      if (checkpoint.size > size) {
        throw new CheckpointRejectedError('beyond_log', `size ${checkpoint.size} exceeds the log's ${size} leaves`);
      }
      const existing = await readCheckpoint(client, 'WHERE tree_size = $1', [checkpoint.size]);
      if (existing) {
        if (Buffer.compare(existing.rootHash, checkpoint.rootHash) !== 0) {
          throw new CheckpointRejectedError('conflict', `another root is stored for size ${checkpoint.size}`);
        }
        return existing;
      }
      const latest = await readCheckpoint(client, 'ORDER BY tree_size DESC LIMIT 1', []);
      if (latest && checkpoint.size < latest.size) {
        throw new CheckpointRejectedError('rollback', `a checkpoint of size ${latest.size} is already stored`);
      }
      const record: CheckpointRecord = { ...checkpoint, createdAt: this.clock.now() };
      await client.query(
        `INSERT INTO ${SCHEMA}.audit_checkpoints (tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4)`,
        [record.size, Buffer.from(record.rootHash), record.note, record.createdAt],
      );
      return record;
    });
  }

  async latestCheckpoint(): Promise<CheckpointRecord | null> {
    return this.run((client) => readCheckpoint(client, 'ORDER BY tree_size DESC LIMIT 1', []));
  }

  async getCheckpoint(size: number): Promise<CheckpointRecord | null> {
    if (!Number.isSafeInteger(size) || size < 0) return null;
    return this.run((client) => readCheckpoint(client, 'WHERE tree_size = $1', [size]));
  }

  async appendSecurityEvent(input: SecurityEventInput): Promise<SecurityEvent> {
    const event = parseInput(securityEventInputSchema, input);
    return this.run(async (client) => {
      const record: SecurityEvent = {
        ...event,
        eventSeq: await advanceCounter(client, 'security_events', 1),
        occurredAt: this.clock.now(),
      };
      await client.query(
        `INSERT INTO ${SCHEMA}.security_events (event_seq, kind, device_id, user_id, details, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          record.eventSeq,
          record.kind,
          record.deviceId,
          record.userId,
          JSON.stringify(record.details),
          record.occurredAt,
        ],
      );
      return record;
    });
  }

  async listSecurityEvents(query: PageQuery): Promise<SecurityEventPage> {
    const { after, limit } = parseInput(pageQuerySchema, query);
    const rows = await this.run(
      async (client) =>
        (
          await client.query<SecurityEventRow>(
            `SELECT event_seq, kind, device_id, user_id, details, occurred_at FROM ${SCHEMA}.security_events
              WHERE event_seq > $1 ORDER BY event_seq LIMIT $2`,
            [after, limit + 1],
          )
        ).rows,
    );
    const events = rows.slice(0, limit).map(securityEventFromRow);
    return { events, hasMore: rows.length > limit, cursor: events.at(-1)?.eventSeq ?? after };
  }
}

async function readDevice(client: pg.PoolClient, deviceId: string): Promise<Device | null> {
  const row = (
    await client.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM ${SCHEMA}.devices WHERE device_id = $1`, [deviceId])
  ).rows[0];
  return row ? deviceFromRow(row) : null;
}

async function requireActiveDevice(client: pg.PoolClient, deviceId: string): Promise<void> {
  // FOR SHARE: a revocation committing meanwhile waits for this push, never interleaves with it.
  const row = (
    await client.query<{ revoked_at: number | null }>(
      `SELECT revoked_at FROM ${SCHEMA}.devices WHERE device_id = $1 FOR SHARE`,
      [deviceId],
    )
  ).rows[0];
  if (!row) throw new UnknownDeviceError('no such device in this clinic');
  if (row.revoked_at !== null) throw new DeviceRevokedError('the device is revoked');
}

async function readHead(client: pg.PoolClient, deviceId: string, epoch: number): Promise<AuditChainHead | null> {
  const row = (
    await client.query<{ head_seq: number; head_hash: string }>(
      `SELECT head_seq, head_hash FROM ${SCHEMA}.audit_heads WHERE device_id = $1 AND epoch = $2`,
      [deviceId, epoch],
    )
  ).rows[0];
  return row ? parseStoredRow(auditChainHeadSchema, { seq: row.head_seq, hash: row.head_hash }, 'audit head') : null;
}

// `where` is one of the constant clauses above, never caller text.
async function readCheckpoint(
  client: pg.PoolClient,
  where: 'WHERE tree_size = $1' | 'ORDER BY tree_size DESC LIMIT 1',
  params: unknown[],
): Promise<CheckpointRecord | null> {
  const row = (
    await client.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ${SCHEMA}.audit_checkpoints ${where}`, params)
  ).rows[0];
  return row ? checkpointFromRow(row) : null;
}

async function counterValue(client: pg.PoolClient, counter: Counter): Promise<number> {
  const row = (
    await client.query<{ value: number }>(`SELECT value FROM ${SCHEMA}.clinic_counters WHERE counter = $1`, [counter])
  ).rows[0];
  if (!row) throw new UnknownClinicError('no such clinic');
  return row.value;
}

/** Locks the clinic's counter row until commit and returns its value. */
async function lockCounter(client: pg.PoolClient, counter: Counter): Promise<number> {
  const row = (
    await client.query<{ value: number }>(`SELECT value FROM ${SCHEMA}.clinic_counters WHERE counter = $1 FOR UPDATE`, [
      counter,
    ])
  ).rows[0];
  if (!row) throw new UnknownClinicError('no such clinic');
  return row.value;
}

/** Adds `by` to the clinic's counter (locking its row until commit) and returns the new value. */
async function advanceCounter(client: pg.PoolClient, counter: Counter, by: number): Promise<number> {
  const row = (
    await client.query<{ value: number }>(
      `UPDATE ${SCHEMA}.clinic_counters SET value = value + $1 WHERE counter = $2 RETURNING value`,
      [by, counter],
    )
  ).rows[0];
  if (!row) throw new UnknownClinicError('no such clinic');
  return row.value;
}

/** One page of the change log after `after` (inside a clinic transaction). */
async function readChangePage(client: pg.ClientBase, { after, limit }: { after: number; limit: number }) {
  // A page is a short range of the primary key in key order. Right after a bulk load (a clinic
  // connecting, before autovacuum analyzes the table) the planner's estimate is far too low and
  // it picks a bitmap scan that sorts every change after the cursor: 30-130 ms a page instead
  // of under 1 ms, measured at 60,000-200,000 changes. Ruled out for this transaction only.
  await client.query('SET LOCAL enable_bitmapscan = off');
  const rows = (
    await client.query<ChangeRow>(
      `SELECT ${CHANGE_COLUMNS} FROM ${SCHEMA}.changes WHERE server_seq > $1 ORDER BY server_seq LIMIT $2`,
      [after, limit + 1],
    )
  ).rows;
  const changes = rows.slice(0, limit).map(changeFromRow);
  return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.serverSeq ?? after };
}

/** Raises a device's pulled cursor (never lowers it, never past the counter), inside a clinic transaction. */
async function raisePulledCursor(
  client: pg.ClientBase,
  cursor: { deviceId: string; after: number },
  now: number,
): Promise<void> {
  // Most pulls repeat the cursor (polling rounds): a read, without the row lock of an upsert.
  const stored = await client.query<{ pulled_after: number }>(
    `SELECT pulled_after FROM ${SCHEMA}.device_cursors WHERE device_id = $1`,
    [cursor.deviceId],
  );
  if (stored.rows[0] && stored.rows[0].pulled_after >= cursor.after) return;
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
}
