import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuditChainBuilder,
  TestClock,
  enrollDevice,
  makeBatch,
} from '../../../test/support/sync-server/conformance-fixtures.js';
import { describeSyncStorageConformance } from '../../../test/support/sync-server/storage.conformance.js';
import { type SyncStorage, UnknownClinicError } from '../storage.js';
import { type ServerKeySource, masterKeySource } from './key-source.js';
import { MigrationError, migrateSqlite } from './migrate.js';
import { catalogMigrations } from './migrations/catalog/index.js';
import { clinicMigrations } from './migrations/clinic/index.js';
import { DatabaseKeyError, openEncryptedDatabase } from './open-database.js';
import { catalogFilePath, clinicConnectionOf, clinicFilePath, openSqliteSyncStorage } from './sqlite-storage.js';

const directories: string[] = [];
afterEach(() => {
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh data directory and master key; the directory is removed after the test. */
function newLocation(): { dataDir: string; keys: ServerKeySource } {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-sync-sqlite-'));
  directories.push(dataDir);
  return { dataDir, keys: masterKeySource(randomBytes(32)) };
}

/** Where each open storage lives, so the dump can decrypt its files. */
const locations = new WeakMap<SyncStorage, { dataDir: string; keys: ServerKeySource }>();

/** Every row of every table of an open database, as text (blobs as hex). */
function dumpDatabase(db: Database.Database): string {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
  return tables
    .map(({ name }) => {
      // Names come from sqlite_master of our own file, not from input; quoting keeps them inert.
      const rows = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all();
      return JSON.stringify(rows, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('hex') : value));
    })
    .join('\n');
}

/** Opens a file with its key, runs fn, closes it. */
async function withFile<T>(path: string, key: Buffer, fn: (db: Database.Database) => T): Promise<T> {
  const db = openEncryptedDatabase(path, key, { create: false });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describeSyncStorageConformance({
  name: 'SQLite',
  async open(clock) {
    const location = newLocation();
    const storage = await openSqliteSyncStorage({ ...location, clock });
    locations.set(storage, location);
    return storage;
  },
  async dumpStoredText(storage) {
    const { dataDir, keys } = locations.get(storage)!;
    const parts = [await withFile(catalogFilePath(dataDir), await keys.catalogKey(), dumpDatabase)];
    for (const file of readdirSync(join(dataDir, 'clinics')).filter((name) => name.endsWith('.db'))) {
      const clinicId = file.slice(0, -3);
      parts.push(await withFile(clinicFilePath(dataDir, clinicId), await keys.clinicKey(clinicId), dumpDatabase));
    }
    return parts.join('\n');
  },
});

describe('SQLite storage: files and keys', () => {
  const open: SyncStorage[] = [];
  afterEach(async () => {
    for (const storage of open.splice(0)) await storage.close();
  });

  async function openAt(location: { dataDir: string; keys: ServerKeySource }, clock = new TestClock()) {
    const storage = await openSqliteSyncStorage({ ...location, clock });
    open.push(storage);
    return storage;
  }

  /** Two clinics, B seeded with a marker in a change, an audit entry and its name. */
  async function twoClinics() {
    const location = newLocation();
    const storage = await openAt(location);
    const a = await storage.createClinic({ name: 'Clinic Alpha' });
    const b = await storage.createClinic({ name: 'Clinic plaintext-marker' });
    const storeB = await storage.clinic(b.clinicId);
    await enrollDevice(storage, storeB, 'device-b');
    const batch = makeBatch('device-b', 'tx-1', 1);
    batch.changes[0]!.fields = { first_name: 'plaintext-marker' };
    await storeB.appendChanges(batch);
    await storeB.appendAuditEntries({
      deviceId: 'device-b',
      epoch: 1,
      entries: new AuditChainBuilder('device-b').next(2, { note: 'plaintext-marker' }),
    });
    return { location, storage, a, b, storeA: await storage.clinic(a.clinicId), storeB };
  }

  it('keeps the catalog and every clinic file encrypted: no stored value appears in their bytes', async () => {
    const { location, b } = await twoClinics();
    const files = readdirSync(join(location.dataDir, 'clinics')).map((name) => join(location.dataDir, 'clinics', name));
    files.push(
      ...readdirSync(location.dataDir)
        .filter((name) => name.startsWith('catalog'))
        .map((name) => join(location.dataDir, name)),
    );
    expect(files.some((file) => file.endsWith('-wal'))).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const needle of ['plaintext-marker', 'device-b', 'Clinic Alpha', b.clinicId, 'SQLite format 3']) {
        expect(bytes.includes(Buffer.from(needle)), `${needle} in ${file}`).toBe(false);
      }
    }
  });

  it("gives each clinic its own key: clinic A's key does not open clinic B's file", async () => {
    const { location, a, b } = await twoClinics();
    const keyA = await location.keys.clinicKey(a.clinicId);
    expect(keyA.equals(await location.keys.clinicKey(b.clinicId))).toBe(false);
    expect(() => openEncryptedDatabase(clinicFilePath(location.dataDir, b.clinicId), keyA, { create: false })).toThrow(
      DatabaseKeyError,
    );
    expect(() => openEncryptedDatabase(catalogFilePath(location.dataDir), keyA, { create: false })).toThrow(
      DatabaseKeyError,
    );
  });

  it("holds only its own clinic's file open in a clinic store", async () => {
    const { location, a, storeA } = await twoClinics();
    const db = clinicConnectionOf(storeA)!;
    const attached = db.pragma('database_list') as Array<{ name: string; file: string }>;
    expect(attached.map((entry) => [entry.name, entry.file])).toEqual([
      ['main', clinicFilePath(location.dataDir, a.clinicId)],
    ]);
  });

  it("refuses a clinic file swapped in under another clinic's name", async () => {
    const { location, a, b } = await twoClinics();
    await open.splice(0)[0]!.close();
    const pathA = clinicFilePath(location.dataDir, a.clinicId);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${pathA}${suffix}`, { force: true });
    copyFileSync(clinicFilePath(location.dataDir, b.clinicId), pathA);
    const reopened = await openAt(location);
    await expect(reopened.clinic(a.clinicId)).rejects.toBeInstanceOf(DatabaseKeyError);
    expect(await (await reopened.clinic(b.clinicId)).getClinic()).toMatchObject({ clinicId: b.clinicId });
  });

  it('finds its clinics and their data again after a restart', async () => {
    const { location, b } = await twoClinics();
    await open.splice(0)[0]!.close();
    const reopened = await openAt(location);
    expect((await reopened.listClinics()).map((clinic) => clinic.name).sort()).toEqual([
      'Clinic Alpha',
      'Clinic plaintext-marker',
    ]);
    const store = await reopened.clinic(b.clinicId);
    expect((await store.pullChanges({ after: 0, limit: 10 })).changes).toHaveLength(1);
    expect(await store.auditLogSize()).toBe(2);
  });

  it('creates no file for a clinic it does not know', async () => {
    const location = newLocation();
    const storage = await openAt(location);
    const unknown = '0a5b9c1e-3d2f-4e6a-8b7c-9d0e1f2a3b4c';
    await expect(storage.clinic(unknown)).rejects.toBeInstanceOf(UnknownClinicError);
    expect(existsSync(clinicFilePath(location.dataDir, unknown))).toBe(false);
  });
});

describe('SQLite storage migrations', () => {
  function emptyFile(): Database.Database {
    const { dataDir } = newLocation();
    return openEncryptedDatabase(join(dataDir, 'empty.db'), randomBytes(32), { create: true });
  }

  it('builds a clinic file and a catalog from an empty file, recording every step', () => {
    for (const migrations of [clinicMigrations, catalogMigrations]) {
      const db = emptyFile();
      try {
        expect(migrateSqlite(db, migrations, 1)).toEqual(migrations.map((migration) => migration.version));
        const recorded = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
        expect(recorded).toEqual(migrations.map(({ version, name }) => ({ version, name })));
        expect(migrateSqlite(db, migrations, 2)).toEqual([]);
        expect(db.pragma('foreign_key_check')).toEqual([]);
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        db.close();
      }
    }
  });

  it('creates every clinic table as STRICT', () => {
    const db = emptyFile();
    try {
      migrateSqlite(db, clinicMigrations, 1);
      const tables = db
        .prepare("SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'")
        .all();
      expect(tables.length).toBeGreaterThanOrEqual(11);
      for (const table of tables as Array<{ name: string; strict: number }>)
        expect(table, table.name).toMatchObject({ strict: 1 });
    } finally {
      db.close();
    }
  });

  it('refuses a file written by a newer server and a file whose steps differ', () => {
    const db = emptyFile();
    try {
      migrateSqlite(db, clinicMigrations, 1);
      expect(() => migrateSqlite(db, clinicMigrations.slice(0, 2), 1)).toThrow(MigrationError);
      const renamed = clinicMigrations.map((migration, i) => (i === 1 ? { ...migration, name: 'other' } : migration));
      expect(() => migrateSqlite(db, renamed, 1)).toThrow(MigrationError);
    } finally {
      db.close();
    }
  });

  it('refuses migrations whose numbers do not increase', () => {
    const db = emptyFile();
    try {
      expect(() => migrateSqlite(db, [clinicMigrations[1]!, clinicMigrations[0]!], 1)).toThrow(MigrationError);
    } finally {
      db.close();
    }
  });

  it('keeps the log tables append-only', () => {
    const db = emptyFile();
    try {
      migrateSqlite(db, clinicMigrations, 1);
      db.exec("INSERT INTO security_events (event_seq, kind, details, occurred_at) VALUES (1, 'probe', '{}', 1)");
      expect(() => db.exec("UPDATE security_events SET kind = 'other'")).toThrow('append-only');
      expect(() => db.exec('DELETE FROM security_events')).toThrow('append-only');
      expect(() => db.exec("UPDATE counters SET value = -1 WHERE counter = 'changes'")).toThrow();
    } finally {
      db.close();
    }
  });

  it('lets a change be deleted only once compaction recorded it under the same number and id', () => {
    const db = emptyFile();
    try {
      migrateSqlite(db, clinicMigrations, 1);
      db.exec(`
        INSERT INTO enrollment_codes (code_id, code_hash, created_at, expires_at) VALUES ('code-1', '${'c'.repeat(64)}', 1, 2);
        INSERT INTO devices (device_id, name, public_key, enrollment_code_id, enrolled_at, device_number)
          VALUES ('device-1', 'D', zeroblob(32), 'code-1', 1, 1);
        INSERT INTO changes (server_seq, change_id, tx_id, device_id, user_id, entity, row_id, op, fields, hlc,
                             schema_version, content_hash, received_at)
          VALUES (1, 'c1', 't1', 'device-1', 'u1', 'patient', 'p1', 'update', '{}', 'h', 1, '${'a'.repeat(64)}', 1),
                 (2, 'c2', 't1', 'device-1', 'u1', 'patient', 'p1', 'update', '{}', 'h', 1, '${'b'.repeat(64)}', 1);
        INSERT INTO device_cursors (device_id, pulled_after, updated_at) VALUES ('device-1', 2, 1);
      `);
      const guard = 'a change leaves it only by compaction';
      expect(() => db.exec('DELETE FROM changes WHERE server_seq = 1')).toThrow(guard);
      // A record under the same number but another id does not open the way either.
      db.exec(
        `INSERT INTO compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
           VALUES (1, 'other', 'device-1', '${'a'.repeat(64)}', 1)`,
      );
      expect(() => db.exec('DELETE FROM changes WHERE server_seq = 1')).toThrow(guard);
      db.exec(
        `INSERT INTO compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
           SELECT server_seq, change_id, device_id, content_hash, 1 FROM changes WHERE server_seq = 2`,
      );
      db.exec('DELETE FROM changes WHERE server_seq = 2');
      expect(db.prepare('SELECT server_seq FROM changes').all()).toEqual([{ server_seq: 1 }]);
      expect(() => db.exec('UPDATE changes SET fields = \'{"a":1}\'')).toThrow('append-only');
      expect(() => db.exec("UPDATE compacted_changes SET device_id = 'x'")).toThrow('append-only');
      expect(() => db.exec('DELETE FROM compacted_changes')).toThrow('append-only');
      expect(() => db.exec('UPDATE device_cursors SET pulled_after = 1')).toThrow('only advances');
      expect(() => db.exec('DELETE FROM device_cursors')).toThrow('never deleted');
      db.exec('UPDATE device_cursors SET pulled_after = 3');
    } finally {
      db.close();
    }
  });
});
