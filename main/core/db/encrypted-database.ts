/**
 * Opens the clinic database with SQLCipher v4 encryption (better-sqlite3-multiple-ciphers with
 * cipher=sqlcipher, legacy=4), so the file is a genuine SQLCipher database readable by the
 * SQLCipher library given the key. The key is 32 random bytes applied as a raw key, skipping
 * SQLCipher's per-open PBKDF2 (the key is not a password; see docs/architecture.md).
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3-multiple-ciphers';

/** The key did not open the file: wrong key, or not a Chairside database. Nothing was changed. */
export class DatabaseKeyError extends Error {
  override readonly name = 'DatabaseKeyError';
}

export interface OpenDatabaseOptions {
  /** Create the file when missing (clinic setup only); otherwise a missing file is an error. */
  readonly create: boolean;
  /** Page cache in MiB; the working set of search and reads should fit. */
  readonly cacheMiB?: number;
}

/** Opens (or, at setup, creates) the encrypted database and applies the connection settings. */
export function openEncryptedDatabase(path: string, key: Buffer, options: OpenDatabaseOptions): Database.Database {
  if (key.length !== 32) throw new Error('the database key must be 32 bytes');
  if (!options.create && !existsSync(path)) {
    throw new Error('the clinic database file is missing');
  }
  if (options.create && existsSync(path)) {
    throw new Error('a clinic database already exists here');
  }
  const db = new Database(path, { fileMustExist: !options.create });
  try {
    applyKey(db, key);
    // Reading the schema is the first access that decrypts a page: a wrong key fails here,
    // before any write, so the file is never modified or replaced.
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (error) {
      throw new DatabaseKeyError(
        (error as { code?: string }).code === 'SQLITE_NOTADB'
          ? 'The database key does not open this database.'
          : 'The database could not be read with this key.',
      );
    }
    applyConnectionSettings(db, options.cacheMiB ?? 64);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Applies the SQLCipher v4 settings and a raw 32-byte key. */
export function applyKey(db: Database.Database, key: Buffer): void {
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  // The key is hex of random bytes we generated, never caller text, so building the pragma is safe.
  db.pragma(`key = "x'${key.toString('hex')}'"`);
}

/** WAL, durable commits, foreign keys, in-memory temp storage and a sized page cache. */
export function applyConnectionSettings(db: Database.Database, cacheMiB: number): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Temporary tables and sort spills stay in memory: SQLite's temp files would not be encrypted.
  db.pragma('temp_store = MEMORY');
  db.pragma(`cache_size = ${-Math.trunc(cacheMiB * 1024)}`);
  db.pragma('busy_timeout = 5000');
}
