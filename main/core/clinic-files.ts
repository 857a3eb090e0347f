/**
 * The clinic's files on this device: clinic.db (SQLCipher) and keys.json (the database key,
 * wrapped twice). Creating refuses to overwrite; opening never creates; a wrong passphrase fails
 * before the database file is touched.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { openEncryptedDatabase } from './db/encrypted-database.js';
import { readKeyFile, writeKeyFile } from './keys/key-file.js';
import { generateRecoveryKey, recoveryKeyProvider } from './keys/recovery-key.js';
import type { KeyProvider } from './keys/wrapped-key.js';
import type { IdSource, RandomSource } from './platform/sources.js';

/** Where a clinic's files live. */
export function clinicPaths(dataDir: string) {
  return { database: join(dataDir, 'clinic.db'), keys: join(dataDir, 'keys.json') };
}

/** What is in a data directory. */
export function clinicFilesState(dataDir: string): 'none' | 'complete' | 'incomplete' {
  const paths = clinicPaths(dataDir);
  const hasDb = existsSync(paths.database);
  const hasKeys = existsSync(paths.keys);
  if (!hasDb && !hasKeys) return 'none';
  return hasDb && hasKeys ? 'complete' : 'incomplete';
}

/** Creates a new encrypted database with a fresh random key, wrapped by the provider and a new recovery key. */
export async function createClinicFiles(
  dataDir: string,
  primary: KeyProvider,
  random: RandomSource,
  ids: IdSource,
): Promise<{ db: Database.Database; recoveryKey: string; remove(): void }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (clinicFilesState(dataDir) !== 'none') throw new Error('a clinic already exists in this data directory');
  const paths = clinicPaths(dataDir);
  const key = random.bytes(32);
  try {
    const databaseId = ids.next();
    const recoveryKey = generateRecoveryKey(random);
    const keyFile = {
      format: 'chairside-keys/1' as const,
      databaseId,
      primary: await primary.wrap(key, databaseId),
      recovery: await recoveryKeyProvider(recoveryKey, random).wrap(key, databaseId),
    };
    writeKeyFile(paths.keys, keyFile, true);
    const remove = () => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${paths.database}${suffix}`, { force: true });
      rmSync(paths.keys, { force: true });
    };
    try {
      return { db: openEncryptedDatabase(paths.database, key, { create: true }), recoveryKey, remove };
    } catch (error) {
      remove();
      throw error;
    }
  } finally {
    key.fill(0);
  }
}

/** Opens an existing clinic database with the key the provider unwraps. */
export async function openClinicFiles(dataDir: string, provider: KeyProvider): Promise<Database.Database> {
  const state = clinicFilesState(dataDir);
  if (state === 'none') throw new Error('no clinic exists in this data directory');
  if (state === 'incomplete') {
    throw new Error('the data directory is incomplete (database or key file missing); restore it from a backup');
  }
  const paths = clinicPaths(dataDir);
  const keyFile = readKeyFile(paths.keys);
  const wrapped = provider.kind === 'recovery' ? keyFile.recovery : keyFile.primary;
  const key = await provider.unwrap(wrapped, keyFile.databaseId);
  try {
    return openEncryptedDatabase(paths.database, key, { create: false });
  } finally {
    key.fill(0);
  }
}

/**
 * When the passphrase (or OS keystore) is lost: the recovery key unwraps the database key, which
 * is then wrapped again by a new primary provider. The database itself is untouched.
 */
export async function recoverClinicKey(
  dataDir: string,
  recoveryKey: string,
  newPrimary: KeyProvider,
  random: RandomSource,
): Promise<void> {
  if (clinicFilesState(dataDir) !== 'complete') {
    throw new Error('no complete clinic exists in this data directory (database or key file missing)');
  }
  const paths = clinicPaths(dataDir);
  const keyFile = readKeyFile(paths.keys);
  const key = await recoveryKeyProvider(recoveryKey, random).unwrap(keyFile.recovery, keyFile.databaseId);
  try {
    // Prove the key opens the database before replacing the primary wrapping.
    openEncryptedDatabase(paths.database, key, { create: false }).close();
    writeKeyFile(paths.keys, { ...keyFile, primary: await newPrimary.wrap(key, keyFile.databaseId) });
  } finally {
    key.fill(0);
  }
}
