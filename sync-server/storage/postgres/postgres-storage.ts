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
 *
 * Patient data is stored encrypted (clinic-data-key.ts): each clinic's data key is stored wrapped
 * under the server master key, unwrapped on the clinic's first use in this process and kept in
 * memory; a change's fields and a quarantined change's detail are sealed on write and opened on
 * read, so whoever reads the database (a dump, a backup, a stolen disk) without the master key
 * sees no patient data.
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
import { type ClinicDataKey, ClinicKeyWrapper, type RandomBytes, SealedValueError } from './clinic-data-key.js';
import { type PostgresClinicContext, inTransaction } from './clinic-transaction.js';
import { SCHEMA } from './migrate.js';

/** How to reach the database, as the app role, and the server clock. */
export interface PostgresSyncStorageOptions {
  /** Connection settings of the app role (never the owner or a superuser). */
  readonly connection: pg.PoolConfig;
  readonly clock: Clock;
  /**
   * The server master key (cli/master-key.ts), the one every server process of the database
   * shares: it unwraps each clinic's data key. Required: PostgreSQL keeps no patient data in clear.
   */
  readonly masterKey: Buffer;
  /** Randomness for data keys and nonces; node:crypto's unless a test injects its own. */
  readonly random?: RandomBytes;
  /** How big compaction's slices are (compaction/compaction-slices.ts); the defaults unless a test shrinks them. */
  readonly compactionSlices?: CompactionSliceOptions;
}

/** Thrown at open when the master key does not unwrap the clinics' data keys (another server's key). */
export class MasterKeyMismatchError extends Error {
  override readonly name = 'MasterKeyMismatchError';
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
  const wrapper = new ClinicKeyWrapper(options.masterKey, options.random);
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
    await checkMasterKey(pool, wrapper);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresSyncStorage(pool, options.clock, wrapper, options.compactionSlices);
}

/**
 * Refuses a master key that does not unwrap the oldest clinic's data key: a server started with
 * another deployment's key fails here, at start, not with an error on every clinic's requests.
 */
async function checkMasterKey(pool: pg.Pool, wrapper: ClinicKeyWrapper): Promise<void> {
  const oldest = await inTransaction(pool, [['chairside.scope', 'catalog']], async (client) => {
    return (
      await client.query<{ clinic_id: string; wrapped_data_key: Buffer }>(
        `SELECT clinic_id, wrapped_data_key FROM ${SCHEMA}.clinics ORDER BY created_at, clinic_id LIMIT 1`,
      )
    ).rows[0];
  });
  if (oldest === undefined) return;
  try {
    wrapper.unwrap(oldest.clinic_id, oldest.wrapped_data_key);
  } catch (error) {
    if (error instanceof SealedValueError) {
      throw new MasterKeyMismatchError('the master key does not open the clinics of this database');
    }
    throw error;
  }
}

/** A clinics row with its wrapped data key. */
interface ClinicKeyRow extends ClinicRow {
  readonly wrapped_data_key: Buffer;
}

class PostgresSyncStorage implements SyncStorage {
  // Handles are made per request; the clinic's appends must still meet in one queue.
  private readonly changeAppendGroups: ChangeAppendGroups = new Map();
  // Unwrapped data keys of the clinics this process has served (a clinic's key never changes).
  private readonly dataKeys = new Map<string, ClinicDataKey>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
    private readonly wrapper: ClinicKeyWrapper,
    private readonly compactionSlices: CompactionSliceOptions | undefined,
  ) {}

  async createClinic(input: CreateClinicInput): Promise<Clinic> {
    const { name } = parseInput(createClinicInputSchema, input);
    const clinic: Clinic = { clinicId: newUuid(), name, createdAt: this.clock.now() };
    const { key, wrapped } = this.wrapper.newDataKey(clinic.clinicId);
    await inTransaction(this.pool, [['chairside.clinic_id', clinic.clinicId]], async (client) => {
      await client.query(
        `INSERT INTO ${SCHEMA}.clinics (clinic_id, name, created_at, wrapped_data_key) VALUES ($1, $2, $3, $4)`,
        [clinic.clinicId, clinic.name, clinic.createdAt, wrapped],
      );
      await client.query(
        `INSERT INTO ${SCHEMA}.clinic_counters (counter, value)
         VALUES ('changes', 0), ('audit_leaves', 0), ('security_events', 0)`,
      );
    });
    this.dataKeys.set(clinic.clinicId, key);
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
    if (!clinicIdSchema.safeParse(clinicId).success) throw new UnknownClinicError('no such clinic');
    // The one read a handle costs already; the wrapped key rides along and is unwrapped once.
    const row = await inTransaction(this.pool, [['chairside.clinic_id', clinicId]], async (client) => {
      return (
        await client.query<ClinicKeyRow>(`SELECT clinic_id, name, created_at, wrapped_data_key FROM ${SCHEMA}.clinics`)
      ).rows[0];
    });
    if (!row) throw new UnknownClinicError('no such clinic');
    let dataKey = this.dataKeys.get(clinicId);
    if (dataKey === undefined) {
      dataKey = this.wrapper.unwrap(clinicId, row.wrapped_data_key);
      this.dataKeys.set(clinicId, dataKey);
    }
    return this.storeFor(clinicId, dataKey);
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

  private storeFor(clinicId: string, dataKey: ClinicDataKey): ClinicStore {
    const context: PostgresClinicContext = {
      clinicId,
      run: (fn) => inTransaction(this.pool, [['chairside.clinic_id', clinicId]], fn),
      clock: this.clock,
      dataKey,
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
