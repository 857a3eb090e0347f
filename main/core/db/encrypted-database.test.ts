import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../test/support/clinic-fixture.js';
import { cryptoRandom } from '../platform/sources.js';
import { DatabaseKeyError, openEncryptedDatabase } from './encrypted-database.js';

let temp: ReturnType<typeof tempDataDir>;
let path: string;
const opened: Database.Database[] = [];

beforeEach(() => {
  temp = tempDataDir();
  path = join(temp.dir, 'clinic.db');
});
afterEach(() => {
  for (const db of opened.splice(0)) if (db.open) db.close();
  temp.remove();
});

/** Opens and remembers the connection so it is closed after the test. */
function open(key: Buffer, create: boolean): Database.Database {
  const db = openEncryptedDatabase(path, key, { create });
  opened.push(db);
  return db;
}

/** Creates a database with one row under key and closes it (checkpointing the WAL). */
function createWithRow(key: Buffer): void {
  const db = openEncryptedDatabase(path, key, { create: true });
  db.exec("CREATE TABLE notes (body TEXT NOT NULL) STRICT; INSERT INTO notes VALUES ('first visit')");
  db.close();
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('openEncryptedDatabase', () => {
  it('refuses to open a missing file and creates nothing', () => {
    expect(() => openEncryptedDatabase(path, cryptoRandom.bytes(32), { create: false })).toThrow(
      'the clinic database file is missing',
    );
    expect(readdirSync(temp.dir)).toEqual([]);
  });

  it('refuses to create over an existing file', () => {
    const key = cryptoRandom.bytes(32);
    createWithRow(key);
    const before = sha256(path);
    expect(() => openEncryptedDatabase(path, key, { create: true })).toThrow('a clinic database already exists here');
    expect(sha256(path)).toBe(before);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => openEncryptedDatabase(path, cryptoRandom.bytes(16), { create: true })).toThrow(
      'the database key must be 32 bytes',
    );
  });

  it('reopens a database it created with the same key', () => {
    const key = cryptoRandom.bytes(32);
    createWithRow(key);
    expect(open(key, false).prepare('SELECT body FROM notes').pluck().get()).toBe('first visit');
  });

  it('refuses a wrong key with DatabaseKeyError', () => {
    createWithRow(cryptoRandom.bytes(32));
    expect(() => openEncryptedDatabase(path, cryptoRandom.bytes(32), { create: false })).toThrow(DatabaseKeyError);
  });

  it('leaves the file unchanged and adds no files when the key is wrong', () => {
    createWithRow(cryptoRandom.bytes(32));
    const before = sha256(path);
    const filesBefore = readdirSync(temp.dir).sort();
    expect(() => openEncryptedDatabase(path, cryptoRandom.bytes(32), { create: false })).toThrow(DatabaseKeyError);
    expect(sha256(path)).toBe(before);
    expect(readdirSync(temp.dir).sort()).toEqual(filesBefore);
  });

  it('keeps the WAL of a crashed session intact when the key is wrong, so no committed write is lost', () => {
    const key = cryptoRandom.bytes(32);
    const live = open(key, true);
    live.exec(
      "CREATE TABLE notes (body TEXT NOT NULL) STRICT; INSERT INTO notes VALUES ('committed before the crash')",
    );
    // A copy of the files taken while the connection is open is what a crash leaves behind.
    const crashed = tempDataDir();
    try {
      for (const name of readdirSync(temp.dir)) copyFileSync(join(temp.dir, name), join(crashed.dir, name));
      const crashedPath = join(crashed.dir, 'clinic.db');
      const before = [sha256(crashedPath), sha256(`${crashedPath}-wal`)];
      expect(() => openEncryptedDatabase(crashedPath, cryptoRandom.bytes(32), { create: false })).toThrow(
        DatabaseKeyError,
      );
      expect([sha256(crashedPath), sha256(`${crashedPath}-wal`)]).toEqual(before);
      const reopened = openEncryptedDatabase(crashedPath, key, { create: false });
      try {
        expect(reopened.prepare('SELECT body FROM notes').pluck().get()).toBe('committed before the crash');
      } finally {
        reopened.close();
      }
    } finally {
      crashed.remove();
    }
  });

  it('refuses a plain SQLite file with DatabaseKeyError', () => {
    // Written as plain SQLite (no key) by the same library, then opened as if encrypted.
    createPlainSqlite(path);
    expect(() => openEncryptedDatabase(path, cryptoRandom.bytes(32), { create: false })).toThrow(DatabaseKeyError);
  });

  it('refuses a file that is not a database with DatabaseKeyError', () => {
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    expect(() => openEncryptedDatabase(path, cryptoRandom.bytes(32), { create: false })).toThrow(DatabaseKeyError);
  });

  it('writes no plaintext SQLite header: the file starts with random salt', () => {
    createWithRow(cryptoRandom.bytes(32));
    expect(readFileSync(path).subarray(0, 16).toString('latin1')).not.toBe('SQLite format 3\0');
  });

  it('uses the SQLCipher cipher scheme', () => {
    const db = open(cryptoRandom.bytes(32), true);
    expect(db.pragma('cipher', { simple: true })).toBe('sqlcipher');
  });

  it('puts the database in WAL mode', () => {
    const db = open(cryptoRandom.bytes(32), true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('enforces foreign keys', () => {
    const db = open(cryptoRandom.bytes(32), true);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('syncs every commit fully (synchronous FULL)', () => {
    const db = open(cryptoRandom.bytes(32), true);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('keeps temporary tables and sorts in memory, never in unencrypted temp files', () => {
    const db = open(cryptoRandom.bytes(32), true);
    expect(db.pragma('temp_store', { simple: true })).toBe(2);
  });

  it('gives the connection a 64 MiB page cache by default', () => {
    const db = open(cryptoRandom.bytes(32), true);
    expect(db.pragma('cache_size', { simple: true })).toBe(-65536);
  });

  it('applies the same settings when reopening an existing database', () => {
    const key = cryptoRandom.bytes(32);
    createWithRow(key);
    const db = open(key, false);
    const settings = ['journal_mode', 'foreign_keys', 'synchronous', 'temp_store', 'cache_size', 'cipher'].map((name) =>
      db.pragma(name, { simple: true }),
    );
    expect(settings).toEqual(['wal', 1, 2, 2, -65536, 'sqlcipher']);
  });
});

/** A plain (unencrypted) SQLite file with one table. */
function createPlainSqlite(file: string): void {
  expect(existsSync(file)).toBe(false);
  const plain = new Database(file);
  plain.exec('CREATE TABLE t (x INTEGER) STRICT; INSERT INTO t VALUES (1)');
  plain.close();
  expect(readFileSync(file).subarray(0, 15).toString('latin1')).toBe('SQLite format 3');
}
