/**
 * The clinic database is a genuine SQLCipher 4 database: the reference SQLCipher library
 * (@journeyapps/sqlcipher, SQLCipher 4 defaults, no compatibility pragmas) opens it with the key.
 */
import sqlcipher from '@journeyapps/sqlcipher';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clinicPaths } from '../../main/core/clinic-files.js';
import { cryptoRandom } from '../../main/core/platform/sources.js';
import { type TestClinic, tempDataDir } from '../support/clinic-fixture.js';
import { PATIENT, clinicWithPatient, unwrapDatabaseKey } from './encryption-helpers.js';

/** Opens path in the SQLCipher library, keys it with a raw key and runs one query. */
function querySqlcipher(path: string, key: Buffer, sql: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlcipher.Database(path, (openError) => {
      if (openError) return reject(openError);
      const finish = (error: Error | null, rows?: unknown[]) =>
        db.close(() => (error ? reject(error) : resolve(rows ?? [])));
      db.serialize(() => {
        // The key is hex of random bytes, so building the pragma text is safe.
        db.exec(`PRAGMA key = "x'${key.toString('hex')}'"`, (keyError) => {
          if (keyError) return finish(keyError);
          db.all(sql, (queryError: Error | null, rows: unknown[]) => finish(queryError, rows));
        });
      });
    });
  });
}

let temp: ReturnType<typeof tempDataDir>;
let clinic: TestClinic;

beforeEach(async () => {
  temp = tempDataDir();
  ({ clinic } = await clinicWithPatient(temp.dir));
  // Closing checkpoints the WAL into clinic.db.
  await clinic.core.close();
});
afterEach(async () => {
  await clinic.close();
  temp.remove();
});

describe('clinic database file', () => {
  it('opens in the SQLCipher library with the key and returns the patient', async () => {
    const key = await unwrapDatabaseKey(temp.dir);
    const rows = await querySqlcipher(clinicPaths(temp.dir).database, key, 'SELECT first_name FROM patients');
    expect(rows).toEqual([{ first_name: PATIENT.firstName }]);
  });

  it("passes the SQLCipher library's HMAC check of every page", async () => {
    const key = await unwrapDatabaseKey(temp.dir);
    // cipher_integrity_check lists each page whose HMAC fails; none is the pass.
    const rows = await querySqlcipher(clinicPaths(temp.dir).database, key, 'PRAGMA cipher_integrity_check');
    expect(rows).toEqual([]);
  });

  it("passes SQLite's integrity check in the SQLCipher library", async () => {
    const key = await unwrapDatabaseKey(temp.dir);
    const rows = await querySqlcipher(clinicPaths(temp.dir).database, key, 'PRAGMA integrity_check');
    expect(rows).toEqual([{ integrity_check: 'ok' }]);
  });

  it('does not open in the SQLCipher library with a wrong key', async () => {
    const query = querySqlcipher(
      clinicPaths(temp.dir).database,
      cryptoRandom.bytes(32),
      'SELECT first_name FROM patients',
    );
    await expect(query).rejects.toThrow(/file is not a database/);
  });
});
