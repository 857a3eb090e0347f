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
 *
 * This file keeps the catalog and the clinic files; a clinic's operations are those of its
 * areas (changes/, compaction/, audit/, devices/, quarantine/, directory/), each a set of
 * functions over the file's shared handle (clinic-database.ts).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import type { Clock } from '../../../shared/clock.js';
import { sqliteAuditLog } from '../audit/audit-log-sqlite.js';
import { challengeNonceInputSchema } from '../challenge-nonce.js';
import { sqliteChangeLog } from '../changes/change-log-sqlite.js';
import type { CompactionSliceOptions } from '../compaction/compaction-slices.js';
import { sqliteCompaction } from '../compaction/compaction-sqlite.js';
import { redeemAndRegister, sqliteDeviceStore } from '../devices/device-sqlite.js';
import { sqliteUserDirectory } from '../directory/user-directory-sqlite.js';
import { hashEnrollmentCode } from '../enrollment-code.js';
import { newUuid } from '../node-crypto.js';
import { sqliteQuarantine } from '../quarantine/quarantine-sqlite.js';
import {
  type Clinic,
  type ClinicStore,
  type CreateClinicInput,
  type EnrolledDevice,
  type RedeemEnrollmentCodeInput,
  type SyncStorage,
  EnrollmentCodeError,
  UnknownClinicError,
  clinicIdSchema,
  createClinicInputSchema,
  parseInput,
  redeemEnrollmentCodeInputSchema,
} from '../storage.js';
import { type ClinicRow, clinicFromRow } from '../stored-rows.js';
import { SqliteClinicDatabase, Statements } from './clinic-database.js';
import type { ServerKeySource } from './key-source.js';
import { migrateSqlite } from './migrate.js';
import { catalogMigrations } from './migrations/catalog/index.js';
import { clinicMigrations } from './migrations/clinic/index.js';
import { openEncryptedDatabase } from './open-database.js';

/** Where and how the embedded storage keeps its files. */
export interface SqliteSyncStorageOptions {
  /** Directory of catalog.db and clinics/; created with mode 0700 when missing. */
  readonly dataDir: string;
  readonly keys: ServerKeySource;
  readonly clock: Clock;
  /** Page cache per open file, in MiB (default 16). */
  readonly cacheMiB?: number;
  /** How big compaction's slices are (compaction/compaction-slices.ts); the defaults unless a test shrinks them. */
  readonly compactionSlices?: CompactionSliceOptions;
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

class SqliteSyncStorage implements SyncStorage {
  private readonly catalogSql: Statements;
  // Promises, so two concurrent first requests for a clinic open its file once.
  private readonly stores = new Map<string, Promise<OpenClinic>>();
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
    return (await this.openStore(clinicId)).store;
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
    const device = redeemAndRegister(store.database, codeHash, parsed);
    return { clinicId: store.database.clinicId, device };
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
    for (const store of stores) if (store.status === 'fulfilled') store.value.database.close();
    this.stores.clear();
    this.catalog.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the storage is closed');
  }

  private openStore(clinicId: string): Promise<OpenClinic> {
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

  private async loadStore(clinicId: string): Promise<OpenClinic> {
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

  private storeFor(clinicId: string, db: Database.Database): OpenClinic {
    // The store's only reach into the catalog: registering its own codes' hashes, for redemption.
    const registerCodeLookup = (codeHash: string, expiresAt: number) => {
      this.catalogSql
        .get('INSERT INTO enrollment_code_lookup (code_hash, clinic_id, expires_at) VALUES (?, ?, ?)')
        .run(codeHash, clinicId, expiresAt);
    };
    const database = new SqliteClinicDatabase(clinicId, db, this.options.clock);
    return { database, store: sqliteClinicStore(database, registerCodeLookup, this.options.compactionSlices) };
  }
}

// The connection behind each store handed out, for clinicConnectionOf.
const connections = new WeakMap<ClinicStore, Database.Database>();

/**
 * The connection behind a ClinicStore of this storage, or undefined for another storage's store:
 * lets a test check which file a store holds open, without the store itself exposing it.
 */
export function clinicConnectionOf(store: ClinicStore): Database.Database | undefined {
  return connections.get(store);
}

/** An open clinic file: the handle its areas share, and the ClinicStore they make up. */
interface OpenClinic {
  readonly database: SqliteClinicDatabase;
  readonly store: ClinicStore;
}

/** The ClinicStore of one clinic file: every area over the same handle, so every method runs against this file only. */
function sqliteClinicStore(
  database: SqliteClinicDatabase,
  registerCodeLookup: (codeHash: string, expiresAt: number) => void,
  compactionSlices: CompactionSliceOptions | undefined,
): ClinicStore {
  const store: ClinicStore = {
    clinicId: database.clinicId,
    ...sqliteDeviceStore(database, registerCodeLookup),
    ...sqliteChangeLog(database),
    ...sqliteCompaction(database, compactionSlices),
    ...sqliteAuditLog(database),
    ...sqliteQuarantine(database),
    ...sqliteUserDirectory(database),
  };
  connections.set(store, database.db);
  return store;
}
