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
import { postgresAuditLog } from '../audit/audit-log-postgres.js';
import { type ChangeAppendGroups, postgresChangeLog } from '../changes/change-log-postgres.js';
import { postgresCompaction } from '../compaction/compaction-postgres.js';
import type { CompactionSliceOptions } from '../compaction/compaction-slices.js';
import { consumeChallengeNonce, postgresDeviceStore, redeemEnrollmentCode } from '../devices/device-postgres.js';
import { postgresUserDirectory } from '../directory/user-directory-postgres.js';
import { newUuid } from '../node-crypto.js';
import { postgresQuarantine } from '../quarantine/quarantine-postgres.js';
import {
  type Clinic,
  type ClinicStore,
  type CreateClinicInput,
  type EnrolledDevice,
  type RedeemEnrollmentCodeInput,
  type SyncStorage,
  UnknownClinicError,
  clinicIdSchema,
  createClinicInputSchema,
  parseInput,
} from '../storage.js';
import { type ClinicRow, clinicFromRow } from '../stored-rows.js';
import { type PostgresClinicContext, inTransaction } from './clinic-transaction.js';
import { SCHEMA } from './migrate.js';

/** How to reach the database, as the app role, and the server clock. */
export interface PostgresSyncStorageOptions {
  /** Connection settings of the app role (never the owner or a superuser). */
  readonly connection: pg.PoolConfig;
  readonly clock: Clock;
  /** How big compaction's slices are (compaction/compaction-slices.ts); the defaults unless a test shrinks them. */
  readonly compactionSlices?: CompactionSliceOptions;
}

/** Thrown at open when the configured role could bypass row-level security. */
export class UnconfinedRoleError extends Error {
  override readonly name = 'UnconfinedRoleError';
}

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
  return new PostgresSyncStorage(pool, options.clock, options.compactionSlices);
}

class PostgresSyncStorage implements SyncStorage {
  // Handles are made per request; the clinic's appends must still meet in one queue.
  private readonly changeAppendGroups: ChangeAppendGroups = new Map();

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
    private readonly compactionSlices: CompactionSliceOptions | undefined,
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
    return redeemEnrollmentCode(this.pool, this.clock, input);
  }

  async consumeChallengeNonce(nonce: string, expiresAt: number): Promise<boolean> {
    return consumeChallengeNonce(this.pool, this.clock, nonce, expiresAt);
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  private storeFor(clinicId: string): ClinicStore {
    const context: PostgresClinicContext = {
      clinicId,
      run: (fn) => inTransaction(this.pool, [['chairside.clinic_id', clinicId]], fn),
      clock: this.clock,
    };
    // Every area over the same context: each call is a transaction with this clinic set.
    return {
      clinicId,
      ...postgresDeviceStore(context),
      ...postgresChangeLog(context, this.changeAppendGroups),
      ...postgresCompaction(context, this.compactionSlices),
      ...postgresAuditLog(context),
      ...postgresQuarantine(context),
      ...postgresUserDirectory(context),
    };
  }
}
