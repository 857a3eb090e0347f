/**
 * Opens an SQLCipher v4 database with a raw 32-byte key, as the app opens its clinic database
 * (main/core/db/encrypted-database.ts; sync-server may not import main/, so the settings are
 * repeated here: cipher=sqlcipher, legacy=4, raw key, WAL, synchronous=FULL, foreign keys,
 * temp_store=MEMORY). The file is a genuine SQLCipher database, readable with the key.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3-multiple-ciphers';

/** The key did not open the file: wrong key, or not one of our databases. Nothing was changed. */
export class DatabaseKeyError extends Error {
  override readonly name = 'DatabaseKeyError';
}

/** Opens (or, with `create`, creates) an encrypted database file. */
export function openEncryptedDatabase(
  path: string,
  key: Buffer,
  options: { readonly create: boolean; readonly cacheMiB?: number },
): Database.Database {
  if (key.length !== 32) throw new Error('a database key must be 32 bytes');
  if (options.create && existsSync(path)) throw new Error('a database already exists here');
  const db = new Database(path, { fileMustExist: !options.create });
  try {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    // Hex of 32 random bytes we derived, never caller text, so building the pragma is safe.
    db.pragma(`key = "x'${key.toString('hex')}'"`);
    // The first read decrypts a page: a wrong key fails here, before anything is written.
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch {
      throw new DatabaseKeyError('the key does not open this database');
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Sort spills and temporary tables would be plaintext files: keep them in memory.
    db.pragma('temp_store = MEMORY');
    db.pragma(`cache_size = ${-Math.trunc((options.cacheMiB ?? 16) * 1024)}`);
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
