/**
 * Opens a test clinic's database on a second connection with the real key, as an attacker
 * holding the key (or a fault-injecting test) would: to tamper with rows or add failing triggers.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { clinicPaths } from '../../main/core/clinic-files.js';
import { openEncryptedDatabase } from '../../main/core/db/encrypted-database.js';
import { readKeyFile } from '../../main/core/keys/key-file.js';
import { testKeyProvider } from './clinic-fixture.js';

/** A second connection to the clinic database in dataDir. */
export async function openRawDatabase(dataDir: string): Promise<Database.Database> {
  const paths = clinicPaths(dataDir);
  const keyFile = readKeyFile(paths.keys);
  const key = await testKeyProvider().unwrap(keyFile.primary, keyFile.databaseId);
  return openEncryptedDatabase(paths.database, key, { create: false });
}
