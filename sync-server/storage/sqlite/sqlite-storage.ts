/**
 * Embedded storage: one SQLCipher database file per clinic (`clinics/<clinic id>.db`), each with
 * its own raw 32-byte key, plus a small encrypted catalog (`catalog.db`) listing the clinics and
 * mapping enrollment-code hashes to clinics. A ClinicStore holds its own clinic's file handle and
 * nothing else, so no query it runs can reach another clinic's rows; even a path mix-up cannot,
 * since another clinic's file does not open with this clinic's key.
 *
 * For a LAN relay or a single-instance server: one process owns the files. better-sqlite3 is
 * synchronous, so each operation's transaction (BEGIN IMMEDIATE) runs without interleaving;
 * the counters are still rows updated inside the transaction, as in PostgreSQL.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import type { Clock } from '../../../shared/clock.js';
import { overlapRange, planAuditAppend, auditLeafHash } from '../audit-append.js';
import { challengeNonceInputSchema } from '../challenge-nonce.js';
import type { StoredChangeDigest } from '../change-append.js';
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
import type { ServerKeySource } from './key-source.js';
import { migrateSqlite } from './migrate.js';
import { catalogMigrations } from './migrations/catalog/index.js';
import { clinicMigrations } from './migrations/clinic/index.js';
import { openEncryptedDatabase } from './open-database.js';
import {
  type DeviceRow,
  type ChangeRow,
  type AuditEntryRow,
  type CheckpointRow,
  type SecurityEventRow,
  DEVICE_COLUMNS,
  CHANGE_COLUMNS,
  AUDIT_ENTRY_COLUMNS,
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

/** Changes moved per statement by compaction (one JSON list of numbers each). */
const COMPACTION_CHUNK = 1000;

/** Where and how the embedded storage keeps its files. */
export interface SqliteSyncStorageOptions {
  /** Directory of catalog.db and clinics/; created with mode 0700 when missing. */
  readonly dataDir: string;
  readonly keys: ServerKeySource;
  readonly clock: Clock;
  /** Page cache per open file, in MiB (default 16). */
  readonly cacheMiB?: number;
}

/** The catalog file of a data directory. */
export function catalogFilePath(dataDir: string): string {
  return join(dataDir, 'catalog.db');
}

/** The database file of one clinic; the id is checked to be a UUID, so it cannot leave the folder. */
export function clinicFilePath(dataDir: string, clinicId: string): string {
  return join(dataDir, 'clinics', `${clinicIdSchema.parse(clinicId)}.db`);
}

/** Opens (creating when missing) the embedded storage in `dataDir`. */
export async function openSqliteSyncStorage(options: SqliteSyncStorageOptions): Promise<SyncStorage> {
  mkdirSync(join(options.dataDir, 'clinics'), { recursive: true, mode: 0o700 });
  const path = catalogFilePath(options.dataDir);
  const catalog = openEncryptedDatabase(path, await options.keys.catalogKey(), {
    create: !existsSync(path),
    cacheMiB: options.cacheMiB ?? 16,
  });
  try {
    migrateSqlite(catalog, catalogMigrations, options.clock.now());
  } catch (error) {
    catalog.close();
    throw error;
  }
  return new SqliteSyncStorage(options, catalog);
}

/** Prepared statements built once per connection, by SQL text. Values are always bound. */
class Statements {
  private readonly cache = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(private readonly db: Database.Database) {}

  get(sql: string): Database.Statement<unknown[], unknown> {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], unknown>(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }
}

interface ClinicRow {
  readonly clinic_id: string;
  readonly name: string;
  readonly created_at: number;
}

const clinicFromRow = (row: ClinicRow): Clinic =>
  parseStoredRow(clinicSchema, { clinicId: row.clinic_id, name: row.name, createdAt: row.created_at }, 'clinic');

class SqliteSyncStorage implements SyncStorage {
  private readonly catalogSql: Statements;
  // Promises, so two concurrent first requests for a clinic open its file once.
  private readonly stores = new Map<string, Promise<SqliteClinicStore>>();
  private closed = false;

  constructor(
    private readonly options: SqliteSyncStorageOptions,
    private readonly catalog: Database.Database,
  ) {
    this.catalogSql = new Statements(catalog);
  }

  async createClinic(input: CreateClinicInput): Promise<Clinic> {
    this.checkOpen();
    const { name } = parseInput(createClinicInputSchema, input);
    const clinicId = newUuid();
    const createdAt = this.options.clock.now();
    const path = clinicFilePath(this.options.dataDir, clinicId);
    const db = openEncryptedDatabase(path, await this.options.keys.clinicKey(clinicId), {
      create: true,
      cacheMiB: this.options.cacheMiB ?? 16,
    });
    try {
      migrateSqlite(db, clinicMigrations, createdAt);
      db.prepare('INSERT INTO clinic (singleton, clinic_id, name, created_at) VALUES (1, ?, ?, ?)').run(
        clinicId,
        name,
        createdAt,
      );
      // The catalog row comes last: a clinic is listed only once its file is complete.
      this.catalogSql
        .get('INSERT INTO clinics (clinic_id, name, created_at) VALUES (?, ?, ?)')
        .run(clinicId, name, createdAt);
    } catch (error) {
      db.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
      throw error;
    }
    this.stores.set(clinicId, Promise.resolve(this.storeFor(clinicId, db)));
    return { clinicId, name, createdAt };
  }

  async listClinics(): Promise<Clinic[]> {
    this.checkOpen();
    const rows = this.catalogSql
      .get('SELECT clinic_id, name, created_at FROM clinics ORDER BY created_at, clinic_id')
      .all() as ClinicRow[];
    return rows.map(clinicFromRow);
  }

  async getClinic(clinicId: string): Promise<Clinic | null> {
    this.checkOpen();
    if (!clinicIdSchema.safeParse(clinicId).success) return null;
    const row = this.catalogSql
      .get('SELECT clinic_id, name, created_at FROM clinics WHERE clinic_id = ?')
      .get(clinicId);
    return row ? clinicFromRow(row as ClinicRow) : null;
  }

  async clinic(clinicId: string): Promise<ClinicStore> {
    return this.openStore(clinicId);
  }

  async redeemEnrollmentCode(input: RedeemEnrollmentCodeInput): Promise<EnrolledDevice> {
    this.checkOpen();
    const parsed = parseInput(redeemEnrollmentCodeInputSchema, input);
    const codeHash = hashEnrollmentCode(parsed.code);
    if (codeHash === null) throw new EnrollmentCodeError('unknown');
    const lookup = this.catalogSql
      .get('SELECT clinic_id FROM enrollment_code_lookup WHERE code_hash = ?')
      .get(codeHash) as { clinic_id: string } | undefined;
    if (!lookup) throw new EnrollmentCodeError('unknown');
    const store = await this.openStore(lookup.clinic_id);
    // The clinic file decides: redeeming and registering are one transaction there.
    const device = store.redeemAndRegister(codeHash, parsed);
    return { clinicId: store.clinicId, device };
  }

  async consumeChallengeNonce(nonce: string, expiresAt: number): Promise<boolean> {
    this.checkOpen();
    const parsed = parseInput(challengeNonceInputSchema, { nonce, expiresAt });
    const now = this.options.clock.now();
    if (parsed.expiresAt <= now) return false;
    return this.catalog
      .transaction(() => {
        this.catalogSql.get('DELETE FROM used_challenge_nonces WHERE expires_at <= ?').run(now);
        const inserted = this.catalogSql
          .get('INSERT INTO used_challenge_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING')
          .run(parsed.nonce, parsed.expiresAt);
        return inserted.changes === 1;
      })
      .immediate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stores = await Promise.allSettled(this.stores.values());
    for (const store of stores) if (store.status === 'fulfilled') store.value.closeFile();
    this.stores.clear();
    this.catalog.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the storage is closed');
  }

  private openStore(clinicId: string): Promise<SqliteClinicStore> {
    this.checkOpen();
    if (!clinicIdSchema.safeParse(clinicId).success) return Promise.reject(new UnknownClinicError('no such clinic'));
    let store = this.stores.get(clinicId);
    if (!store) {
      store = this.loadStore(clinicId);
      this.stores.set(clinicId, store);
      // A failed open is not cached: the next request tries again.
      store.catch(() => this.stores.delete(clinicId));
    }
    return store;
  }

  private async loadStore(clinicId: string): Promise<SqliteClinicStore> {
    const listed = this.catalogSql.get('SELECT 1 FROM clinics WHERE clinic_id = ?').get(clinicId);
    if (!listed) throw new UnknownClinicError('no such clinic');
    const db = openEncryptedDatabase(
      clinicFilePath(this.options.dataDir, clinicId),
      await this.options.keys.clinicKey(clinicId),
      { create: false, cacheMiB: this.options.cacheMiB ?? 16 },
    );
    try {
      migrateSqlite(db, clinicMigrations, this.options.clock.now());
      const own = db.prepare('SELECT clinic_id FROM clinic').get() as { clinic_id: string } | undefined;
      if (own?.clinic_id !== clinicId) throw new Error('the clinic file belongs to another clinic');
    } catch (error) {
      db.close();
      throw error;
    }
    return this.storeFor(clinicId, db);
  }

  private storeFor(clinicId: string, db: Database.Database): SqliteClinicStore {
    // The store's only reach into the catalog: registering its own codes' hashes, for redemption.
    const registerCodeLookup = (codeHash: string, expiresAt: number) => {
      this.catalogSql
        .get('INSERT INTO enrollment_code_lookup (code_hash, clinic_id, expires_at) VALUES (?, ?, ?)')
        .run(codeHash, clinicId, expiresAt);
    };
    return new SqliteClinicStore(clinicId, db, this.options.clock, registerCodeLookup);
  }
}

/** One clinic's file. Every method runs against this file only. */
class SqliteClinicStore implements ClinicStore {
  private readonly sql: Statements;

  constructor(
    readonly clinicId: string,
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly registerCodeLookup: (codeHash: string, expiresAt: number) => void,
  ) {
    this.sql = new Statements(db);
  }

  async getClinic(): Promise<Clinic> {
    return clinicFromRow(this.sql.get('SELECT clinic_id, name, created_at FROM clinic').get() as ClinicRow);
  }

  async createEnrollmentCode(input: CreateEnrollmentCodeInput): Promise<CreatedEnrollmentCode> {
    const { ttlMs, createdBy } = parseInput(createEnrollmentCodeInputSchema, input);
    const code = generateEnrollmentCode();
    const codeHash = hashEnrollmentCode(code)!;
    const createdAt = this.clock.now();
    const record: EnrollmentCodeRecord = {
      codeId: newUuid(),
      createdAt,
      expiresAt: createdAt + ttlMs,
      createdBy,
      redeemedAt: null,
      redeemedByDevice: null,
    };
    // Lookup first: a lookup without a code redeems as "unknown"; a code without a lookup never would.
    this.registerCodeLookup(codeHash, record.expiresAt);
    this.sql
      .get(
        'INSERT INTO enrollment_codes (code_id, code_hash, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?)',
      )
      .run(record.codeId, codeHash, record.createdAt, record.expiresAt, record.createdBy);
    return { code, record };
  }

  async listEnrollmentCodes(): Promise<EnrollmentCodeRecord[]> {
    const rows = this.sql
      .get(
        'SELECT code_id, created_at, expires_at, created_by, redeemed_at, redeemed_by_device FROM enrollment_codes ORDER BY created_at, code_id',
      )
      .all() as Array<{
      code_id: string;
      created_at: number;
      expires_at: number;
      created_by: string | null;
      redeemed_at: number | null;
      redeemed_by_device: string | null;
    }>;
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

  /** Redeems a code of this clinic and registers its device in one transaction (see SyncStorage). */
  redeemAndRegister(codeHash: string, device: { deviceId: string; name: string; publicKey: Uint8Array }): Device {
    return this.write(() => {
      const now = this.clock.now();
      const code = this.sql
        .get('SELECT code_id, expires_at, redeemed_at FROM enrollment_codes WHERE code_hash = ?')
        .get(codeHash) as { code_id: string; expires_at: number; redeemed_at: number | null } | undefined;
      if (!code) throw new EnrollmentCodeError('unknown');
      if (code.redeemed_at !== null) throw new EnrollmentCodeError('redeemed');
      if (now >= code.expires_at) throw new EnrollmentCodeError('expired');
      if (this.sql.get('SELECT 1 FROM devices WHERE device_id = ?').get(device.deviceId)) {
        throw new DuplicateDeviceError('this device id is already enrolled');
      }
      this.sql
        .get('UPDATE enrollment_codes SET redeemed_at = ?, redeemed_by_device = ? WHERE code_id = ?')
        .run(now, device.deviceId, code.code_id);
      this.sql
        .get(
          // One writer per clinic file: the next number taken inside this transaction cannot race.
          `INSERT INTO devices (device_id, name, public_key, enrollment_code_id, enrolled_at, device_number)
           VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(device_number), 0) + 1 FROM devices))`,
        )
        .run(device.deviceId, device.name, Buffer.from(device.publicKey), code.code_id, now);
      return this.readDevice(device.deviceId)!;
    });
  }

  async getDevice(deviceId: string): Promise<Device | null> {
    if (!deviceIdSchema.safeParse(deviceId).success) return null;
    return this.readDevice(deviceId);
  }

  async listDevices(): Promise<Device[]> {
    const rows = this.sql.get(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, device_id`).all();
    return (rows as DeviceRow[]).map(deviceFromRow);
  }

  async revokeDevice(input: RevokeDeviceInput): Promise<Device> {
    const { deviceId, reason } = parseInput(revokeDeviceInputSchema, input);
    return this.write(() => {
      const device = this.readDevice(deviceId);
      if (!device) throw new UnknownDeviceError('no such device in this clinic');
      if (device.revokedAt !== null) return device;
      this.sql
        .get('UPDATE devices SET revoked_at = ?, revoked_reason = ? WHERE device_id = ?')
        .run(this.clock.now(), reason, deviceId);
      return this.readDevice(deviceId)!;
    });
  }

  async isDeviceRevoked(deviceId: string): Promise<boolean> {
    if (!deviceIdSchema.safeParse(deviceId).success) return true;
    const row = this.sql.get('SELECT revoked_at FROM devices WHERE device_id = ?').get(deviceId) as
      { revoked_at: number | null } | undefined;
    return !row || row.revoked_at !== null;
  }

  // Batches pushed at the same time share one transaction and one disk flush (group-commit.ts).
  private readonly changeAppends = new GroupCommit<ParsedChangeBatch, AppendChangesResult>(
    async (batches) => this.commitChangeAppends(batches),
    (batch) => batch.changes.length,
  );

  async appendChanges(input: ChangeBatch): Promise<AppendChangesResult> {
    // Changes the push route already parsed are not parsed again (parsed-changes.ts).
    return this.changeAppends.submit(parseChangeBatch(input));
  }

  /**
   * Appends a group of validated batches in one transaction; each batch gets its own outcome.
   * One read of the devices, of the stored ids and of the counter for the whole group, and every
   * batch decided before anything is written (group-append.ts): a savepoint, a device check, an
   * id lookup and a counter update per batch cost a third of the push path in the benchmark.
   */
  private commitChangeAppends(batches: readonly ParsedChangeBatch[]): Array<GroupOutcome<AppendChangesResult>> {
    return this.write(() => {
      const refused = new Map<string, unknown>();
      for (const deviceId of new Set(batches.map((batch) => batch.deviceId))) {
        try {
          this.requireActiveDevice(deviceId);
        } catch (error) {
          if (!(error instanceof UnknownDeviceError || error instanceof DeviceRevokedError)) throw error;
          refused.set(deviceId, error);
        }
      }
      const ids = JSON.stringify(batches.flatMap((batch) => batch.changes.map((change) => change.changeId)));
      // Compacted changes keep their idempotency record: a re-push of one is answered, not re-inserted.
      const rows = this.sql
        .get(
          `SELECT change_id, server_seq, content_hash FROM changes WHERE change_id IN (SELECT value FROM json_each(?))
           UNION ALL
           SELECT change_id, server_seq, content_hash FROM compacted_changes WHERE change_id IN (SELECT value FROM json_each(?))`,
        )
        .all(ids, ids) as Array<{ change_id: string; server_seq: number; content_hash: string }>;
      const stored = new Map<string, StoredChangeDigest>(
        rows.map((row) => [row.change_id, { serverSeq: row.server_seq, contentHash: row.content_hash }]),
      );
      const before = this.counterValue('changes');
      const plan = planGroupAppend(batches, stored, refused, before);
      const receivedAt = this.clock.now();
      const insert = this.sql.get(
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
      if (plan.counter > before) this.advanceCounter('changes', plan.counter - before);
      return plan.outcomes;
    });
  }

  async pullChanges(query: PageQuery): Promise<ChangePage> {
    const { after, limit } = parseInput(pageQuerySchema, query);
    const rows = this.sql
      .get(`SELECT ${CHANGE_COLUMNS} FROM changes WHERE server_seq > ? ORDER BY server_seq LIMIT ?`)
      .all(after, limit + 1) as ChangeRow[];
    const changes = rows.slice(0, limit).map(changeFromRow);
    return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.serverSeq ?? after };
  }

  async latestChangeSeq(): Promise<number> {
    return this.counterValue('changes');
  }

  async recordPulledCursor(deviceId: string, after: number): Promise<void> {
    const cursor = parseInput(pulledCursorInputSchema, { deviceId, after });
    // Most pulls repeat the cursor (polling rounds): a read, not a write transaction and its flush.
    const stored = this.sql.get('SELECT pulled_after FROM device_cursors WHERE device_id = ?').get(cursor.deviceId) as
      { pulled_after: number } | undefined;
    if (stored && stored.pulled_after >= cursor.after) return;
    // A cursor is a lower bound for compaction: one lost to a power cut only holds the horizon back,
    // so it is committed without waiting for the disk (each pulled page would otherwise wait for a
    // WAL flush, a quarter of the pull throughput measured with 20 devices). Everything here is
    // synchronous, so no other transaction commits under this setting.
    this.db.pragma('synchronous = NORMAL');
    try {
      this.writeCursor(cursor);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  private writeCursor(cursor: { deviceId: string; after: number }): void {
    this.write(() => {
      if (!this.sql.get('SELECT 1 FROM devices WHERE device_id = ?').get(cursor.deviceId)) {
        throw new UnknownDeviceError('no such device in this clinic');
      }
      const capped = Math.min(cursor.after, this.counterValue('changes'));
      this.sql
        .get(
          `INSERT INTO device_cursors (device_id, pulled_after, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (device_id) DO UPDATE SET pulled_after = excluded.pulled_after, updated_at = excluded.updated_at
           WHERE excluded.pulled_after > device_cursors.pulled_after`,
        )
        .run(cursor.deviceId, capped, this.clock.now());
    });
  }

  async pullChangesForDevice(deviceId: string, query: PageQuery): Promise<ChangePage> {
    // Both are synchronous here: nothing runs between the cursor's commit and the read.
    await this.recordPulledCursor(deviceId, query.after);
    return this.pullChanges(query);
  }

  async listPulledCursors(): Promise<PulledCursor[]> {
    const rows = this.sql
      .get(`SELECT ${PULLED_CURSOR_COLUMNS} FROM device_cursors ORDER BY device_id`)
      .all() as PulledCursorRow[];
    return rows.map(pulledCursorFromRow);
  }

  async compactChanges(): Promise<CompactionResult> {
    return this.write((): CompactionResult => {
      const devices = this.sql
        .get('SELECT d.revoked_at, c.pulled_after FROM devices d LEFT JOIN device_cursors c USING (device_id)')
        .all() as Array<{ revoked_at: number | null; pulled_after: number | null }>;
      const horizon = compactionHorizon(
        devices.map((row) => ({ revoked: row.revoked_at !== null, pulledAfter: row.pulled_after })),
      );
      let removed: number[] = [];
      if (horizon > 0) {
        const rows = this.sql
          .get(
            `SELECT ${COMPACTION_COLUMNS} FROM changes
             WHERE entity IN (SELECT value FROM json_each(?)) ORDER BY server_seq`,
          )
          .all(JSON.stringify(COMPACTABLE_ENTITIES)) as CompactionRow[];
        removed = planCompaction(rows.map(compactionCandidateFromRow), horizon);
        const keep = this.sql.get(
          `INSERT INTO compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
           SELECT server_seq, change_id, device_id, content_hash, ? FROM changes
            WHERE server_seq IN (SELECT value FROM json_each(?))`,
        );
        // The trigger on changes lets a row go only once its record is in compacted_changes.
        const remove = this.sql.get('DELETE FROM changes WHERE server_seq IN (SELECT value FROM json_each(?))');
        const now = this.clock.now();
        for (let start = 0; start < removed.length; start += COMPACTION_CHUNK) {
          const chunk = JSON.stringify(removed.slice(start, start + COMPACTION_CHUNK));
          keep.run(now, chunk);
          remove.run(chunk);
        }
      }
      const kept = (this.sql.get('SELECT count(*) AS n FROM changes').get() as { n: number }).n;
      return { horizon, removed: removed.length, kept };
    });
  }

  async auditChainHead(deviceId: string, epoch: number): Promise<AuditChainHead | null> {
    if (!deviceIdSchema.safeParse(deviceId).success || !Number.isSafeInteger(epoch)) return null;
    return this.readHead(deviceId, epoch);
  }

  async appendAuditEntries(input: AuditBatch): Promise<AppendAuditResult> {
    const batch = parseInput(auditBatchSchema, input);
    return this.write(() => {
      this.requireActiveDevice(batch.deviceId);
      const newest = this.sql
        .get('SELECT max(epoch) AS epoch FROM audit_heads WHERE device_id = ?')
        .get(batch.deviceId) as {
        epoch: number | null;
      };
      const head = this.readHead(batch.deviceId, batch.epoch);
      const overlap = overlapRange(batch, head);
      const storedHashes = new Map<number, string>();
      if (overlap) {
        const rows = this.sql
          .get('SELECT seq, hash FROM audit_entries WHERE device_id = ? AND epoch = ? AND seq BETWEEN ? AND ?')
          .all(batch.deviceId, batch.epoch, overlap[0], overlap[1]) as Array<{ seq: number; hash: string }>;
        for (const row of rows) storedHashes.set(row.seq, row.hash);
      }
      const plan = planAuditAppend(batch, { newestEpoch: newest.epoch, head, storedHashes });
      if (plan.fresh.length === 0) return { appended: [], duplicates: plan.duplicates, head: head! };

      const receivedAt = this.clock.now();
      const firstLeaf = this.advanceCounter('audit_leaves', plan.fresh.length) - plan.fresh.length;
      const insertLeaf = this.sql.get('INSERT INTO audit_leaves (leaf_index, leaf_hash) VALUES (?, ?)');
      const insertEntry = this.sql.get(
        `INSERT INTO audit_entries (${AUDIT_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const appended = plan.fresh.map((entry, i): AuditEntryRecord => {
        const record: AuditEntryRecord = {
          deviceId: batch.deviceId,
          epoch: batch.epoch,
          seq: entry.seq,
          body: entry.body,
          prevHash: entry.prevHash,
          hash: entry.hash,
          deviceTime: entry.deviceTime,
          receivedAt,
          leafIndex: firstLeaf + i,
        };
        insertLeaf.run(record.leafIndex, Buffer.from(auditLeafHash(record)));
        insertEntry.run(
          record.deviceId,
          record.epoch,
          record.seq,
          record.body,
          record.prevHash,
          record.hash,
          record.deviceTime,
          record.receivedAt,
          record.leafIndex,
        );
        return record;
      });
      const last = appended.at(-1)!;
      const newHead: AuditChainHead = { seq: last.seq, hash: last.hash };
      if (head) {
        this.sql
          .get('UPDATE audit_heads SET head_seq = ?, head_hash = ?, updated_at = ? WHERE device_id = ? AND epoch = ?')
          .run(newHead.seq, newHead.hash, receivedAt, batch.deviceId, batch.epoch);
      } else {
        this.sql
          .get('INSERT INTO audit_heads (device_id, epoch, head_seq, head_hash, updated_at) VALUES (?, ?, ?, ?, ?)')
          .run(batch.deviceId, batch.epoch, newHead.seq, newHead.hash, receivedAt);
      }
      return { appended, duplicates: plan.duplicates, head: newHead };
    });
  }

  async listAuditEntries(query: PageQuery): Promise<AuditEntryPage> {
    const { after, limit } = parseInput(pageQuerySchema, query);
    const rows = this.sql
      .get(`SELECT ${AUDIT_ENTRY_COLUMNS} FROM audit_entries WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?`)
      .all(after, limit + 1) as AuditEntryRow[];
    const entries = rows.slice(0, limit).map(auditEntryFromRow);
    const last = entries.at(-1);
    return { entries, hasMore: rows.length > limit, cursor: last ? last.leafIndex + 1 : after };
  }

  async auditLogSize(): Promise<number> {
    return this.counterValue('audit_leaves');
  }

  async auditLeafHashes(start: number, end: number): Promise<Uint8Array[]> {
    const size = this.counterValue('audit_leaves');
    checkLeafRange(start, end, size);
    const rows = this.sql
      .get(
        'SELECT leaf_index, leaf_hash FROM audit_leaves WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index',
      )
      .all(start, end) as Array<{ leaf_index: number; leaf_hash: Buffer }>;
    return leafHashesFromRows(rows, start, end);
  }

  async storeCheckpoint(input: CheckpointInput): Promise<CheckpointRecord> {
    const checkpoint = parseInput(checkpointInputSchema, input);
    return this.write(() => {
      const size = this.counterValue('audit_leaves');
      if (checkpoint.size > size) {
        throw new CheckpointRejectedError('beyond_log', `size ${checkpoint.size} exceeds the log's ${size} leaves`);
      }
      const existing = this.readCheckpoint(checkpoint.size);
      if (existing) {
        if (Buffer.compare(existing.rootHash, checkpoint.rootHash) !== 0) {
          throw new CheckpointRejectedError('conflict', `another root is stored for size ${checkpoint.size}`);
        }
        return existing;
      }
      const latest = this.sql.get('SELECT max(tree_size) AS size FROM audit_checkpoints').get() as {
        size: number | null;
      };
      if (latest.size !== null && checkpoint.size < latest.size) {
        throw new CheckpointRejectedError('rollback', `a checkpoint of size ${latest.size} is already stored`);
      }
      const record: CheckpointRecord = { ...checkpoint, createdAt: this.clock.now() };
      this.sql
        .get('INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at) VALUES (?, ?, ?, ?)')
        .run(record.size, Buffer.from(record.rootHash), record.note, record.createdAt);
      return record;
    });
  }

  async latestCheckpoint(): Promise<CheckpointRecord | null> {
    const row = this.sql
      .get('SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1')
      .get() as CheckpointRow | undefined;
    return row ? checkpointFromRow(row) : null;
  }

  async getCheckpoint(size: number): Promise<CheckpointRecord | null> {
    if (!Number.isSafeInteger(size) || size < 0) return null;
    return this.readCheckpoint(size);
  }

  async appendSecurityEvent(input: SecurityEventInput): Promise<SecurityEvent> {
    const event = parseInput(securityEventInputSchema, input);
    return this.write(() => {
      const record: SecurityEvent = {
        ...event,
        eventSeq: this.advanceCounter('security_events', 1),
        occurredAt: this.clock.now(),
      };
      this.sql
        .get(
          'INSERT INTO security_events (event_seq, kind, device_id, user_id, details, occurred_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(
          record.eventSeq,
          record.kind,
          record.deviceId,
          record.userId,
          JSON.stringify(record.details),
          record.occurredAt,
        );
      return record;
    });
  }

  async listSecurityEvents(query: PageQuery): Promise<SecurityEventPage> {
    const { after, limit } = parseInput(pageQuerySchema, query);
    const rows = this.sql
      .get(
        'SELECT event_seq, kind, device_id, user_id, details, occurred_at FROM security_events WHERE event_seq > ? ORDER BY event_seq LIMIT ?',
      )
      .all(after, limit + 1) as SecurityEventRow[];
    const events = rows.slice(0, limit).map(securityEventFromRow);
    return { events, hasMore: rows.length > limit, cursor: events.at(-1)?.eventSeq ?? after };
  }

  async quarantineChanges(input: QuarantineBatch): Promise<QuarantineResult> {
    const batch = parseInput(quarantineBatchSchema, input);
    return this.write((): QuarantineResult => {
      this.requireActiveDevice(batch.deviceId);
      const ids = JSON.stringify(batch.entries.map((entry) => entry.change.changeId));
      // A compacted change was accepted too.
      const accepted = this.sql
        .get(
          `SELECT 1 FROM changes WHERE change_id IN (SELECT value FROM json_each(?))
           UNION ALL
           SELECT 1 FROM compacted_changes WHERE change_id IN (SELECT value FROM json_each(?)) LIMIT 1`,
        )
        .get(ids, ids);
      if (accepted) return { outcome: 'alreadyAccepted' };
      const select = `SELECT ${QUARANTINE_COLUMNS} FROM quarantined_changes WHERE change_id IN (SELECT value FROM json_each(?))`;
      const stored = this.sql.get(select).all(ids) as QuarantineRow[];
      const fresh = freshQuarantineEntries(batch, stored);
      const now = this.clock.now();
      const insert = this.sql.get(
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
      return { outcome: 'quarantined', changes: inBatchOrder(batch, this.sql.get(select).all(ids) as QuarantineRow[]) };
    });
  }

  async findQuarantinedChanges(changeIds: readonly string[]): Promise<QuarantinedChange[]> {
    const ids = parseInput(changeIdListSchema, changeIds);
    const rows = this.sql
      .get(
        `SELECT ${QUARANTINE_COLUMNS} FROM quarantined_changes WHERE change_id IN (SELECT value FROM json_each(?)) ORDER BY quarantine_seq`,
      )
      .all(JSON.stringify(ids)) as QuarantineRow[];
    return rows.map(quarantinedFromRow);
  }

  async listQuarantinedChanges(query: QuarantineQuery): Promise<QuarantinePage> {
    const { deviceId, after, limit } = parseInput(quarantineQuerySchema, query);
    const rows = this.sql
      .get(
        `SELECT ${QUARANTINE_COLUMNS} FROM quarantined_changes WHERE device_id = ? AND quarantine_seq > ? ORDER BY quarantine_seq LIMIT ?`,
      )
      .all(deviceId, after, limit + 1) as QuarantineRow[];
    const changes = rows.slice(0, limit).map(quarantinedFromRow);
    return { changes, hasMore: rows.length > limit, cursor: changes.at(-1)?.quarantineSeq ?? after };
  }

  async readUserDirectory(userIds: readonly string[]): Promise<DirectoryLookup> {
    const ids = parseInput(changeIdListSchema, userIds);
    const rows = this.sql
      .get(
        `SELECT user_id, role, role_hlc, all_branches, branch_ids, updated_at FROM user_directory
         WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id`,
      )
      .all(JSON.stringify(ids)) as DirectoryRow[];
    const size = (this.sql.get('SELECT count(*) AS n FROM user_directory').get() as { n: number }).n;
    return { users: rows.map(directoryUserFromRow), size };
  }

  async updateUserDirectory(input: DirectoryUpdate): Promise<void> {
    const entries = parseInput(directoryUpdateSchema, input);
    this.write(() => {
      const now = this.clock.now();
      const upsert = this.sql.get(
        `INSERT INTO user_directory (user_id, role, role_hlc, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, role_hlc = excluded.role_hlc, updated_at = excluded.updated_at
         WHERE excluded.role_hlc > user_directory.role_hlc`,
      );
      const allBranches = this.sql.get(
        `UPDATE user_directory SET all_branches = ?, all_branches_hlc = ?, updated_at = ?
         WHERE user_id = ? AND (all_branches_hlc IS NULL OR all_branches_hlc < ?)`,
      );
      const branchIds = this.sql.get(
        `UPDATE user_directory SET branch_ids = ?, branch_ids_hlc = ?, updated_at = ?
         WHERE user_id = ? AND (branch_ids_hlc IS NULL OR branch_ids_hlc < ?)`,
      );
      // The role first: it creates the row the branch values are set on.
      for (const entry of entries) {
        if (entry.role !== undefined) upsert.run(entry.userId, entry.role, entry.roleHlc, now);
        if (entry.allBranches) {
          const { value, hlc } = entry.allBranches;
          allBranches.run(value ? 1 : 0, hlc, now, entry.userId, hlc);
        }
        if (entry.branchIds) {
          const { value, hlc } = entry.branchIds;
          branchIds.run(JSON.stringify(value), hlc, now, entry.userId, hlc);
        }
      }
    });
  }

  async readPatientBranches(patientIds: readonly string[]): Promise<PatientBranch[]> {
    const ids = parseInput(changeIdListSchema, patientIds);
    // The partial index changes_patient_rows (migration 80) answers this by row id.
    const rows = this.sql
      .get(
        `SELECT row_id, fields, hlc FROM changes
         WHERE entity = 'patient' AND row_id IN (SELECT value FROM json_each(?))
           AND json_type(fields, '$.branch_id') = 'text'`,
      )
      .all(JSON.stringify(ids)) as PatientBranchRow[];
    return patientBranchesFromRows(rows);
  }

  /** Closes the file (the storage's close does this). */
  closeFile(): void {
    if (this.db.open) this.db.close();
  }

  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private readDevice(deviceId: string): Device | null {
    const row = this.sql.get(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE device_id = ?`).get(deviceId);
    return row ? deviceFromRow(row as DeviceRow) : null;
  }

  private requireActiveDevice(deviceId: string): void {
    const row = this.sql.get('SELECT revoked_at FROM devices WHERE device_id = ?').get(deviceId) as
      { revoked_at: number | null } | undefined;
    if (!row) throw new UnknownDeviceError('no such device in this clinic');
    if (row.revoked_at !== null) throw new DeviceRevokedError('the device is revoked');
  }

  private readHead(deviceId: string, epoch: number): AuditChainHead | null {
    const row = this.sql
      .get('SELECT head_seq, head_hash FROM audit_heads WHERE device_id = ? AND epoch = ?')
      .get(deviceId, epoch) as { head_seq: number; head_hash: string } | undefined;
    return row ? parseStoredRow(auditChainHeadSchema, { seq: row.head_seq, hash: row.head_hash }, 'audit head') : null;
  }

  private readCheckpoint(size: number): CheckpointRecord | null {
    const row = this.sql
      .get('SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints WHERE tree_size = ?')
      .get(size) as CheckpointRow | undefined;
    return row ? checkpointFromRow(row) : null;
  }

  private counterValue(counter: Counter): number {
    return (this.sql.get('SELECT value FROM counters WHERE counter = ?').get(counter) as { value: number }).value;
  }

  /** Adds `by` to a counter inside the caller's transaction and returns the new value. */
  private advanceCounter(counter: Counter, by: number): number {
    const row = this.sql
      .get('UPDATE counters SET value = value + ? WHERE counter = ? RETURNING value')
      .get(by, counter);
    return (row as { value: number }).value;
  }
}
