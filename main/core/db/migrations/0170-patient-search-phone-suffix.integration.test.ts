/**
 * Migration 0170 gives patients indexed before it the reversed phone token, so a search by the
 * last digits of a phone finds them too; rows without a phone and the other columns are unchanged.
 */
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../../test/support/clinic-fixture.js';
import { searchPatients } from '../../patients/patient-search.js';
import { cryptoRandom } from '../../platform/sources.js';
import { WriteDb } from '../access.js';
import { openEncryptedDatabase } from '../encrypted-database.js';
import { migrate } from '../migrate.js';
import { migrations } from './index.js';

const NOW = Date.UTC(2026, 0, 5);
let temp: ReturnType<typeof tempDataDir>;
let raw: Database.Database;
let db: WriteDb;

beforeEach(() => {
  temp = tempDataDir();
  raw = openEncryptedDatabase(join(temp.dir, 'clinic.db'), cryptoRandom.bytes(32), { create: true });
  db = new WriteDb(raw);
});
afterEach(() => {
  raw.close();
  temp.remove();
});

describe('migration 0170 (patient search by the last digits of a phone)', () => {
  it('re-indexes the phones of patients indexed before it', () => {
    migrate(
      db,
      migrations.filter((migration) => migration.version < 170),
      () => NOW,
    );
    raw.prepare("INSERT INTO branches (id, name, created_at) VALUES ('B', 'Main', 0)").run();
    const insert = raw.prepare(
      `INSERT INTO patients (id, patient_number, branch_id, first_name, last_name, sex, phone, created_at, created_by,
         updated_at, updated_by) VALUES (?, ?, 'B', 'Asha', 'Rao', 'female', ?, 0, 'U', 0, 'U')`,
    );
    const index = raw.prepare('INSERT INTO patients_fts (rowid, name, phone, number, dob) VALUES (?, ?, ?, ?, ?)');
    // The tokens as patient-search.ts wrote them before this step: digits, and the last ten when longer.
    const withPhone = insert.run('P1', 'P000001', '+91 78378 27594').lastInsertRowid;
    index.run(withPhone, 'Asha Rao', '917837827594 7837827594', 'P000001 1', '');
    const withoutPhone = insert.run('P2', 'P000002', null).lastInsertRowid;
    index.run(withoutPhone, 'Asha Rao', '', 'P000002 2', '');
    const search = (query: string) =>
      searchPatients(db, query, { limit: 20, includeArchived: false, branchIds: null }).results.map((r) => r.id);
    expect(search('27594')).toEqual([]);

    migrate(db, migrations, () => NOW);

    expect(search('27594')).toEqual(['P1']);
    expect(raw.prepare('SELECT rowid, name, phone, number FROM patients_fts ORDER BY rowid').all()).toEqual([
      { rowid: withPhone, name: 'Asha Rao', phone: '917837827594 7837827594 r4957287387', number: 'P000001 1' },
      { rowid: withoutPhone, name: 'Asha Rao', phone: '', number: 'P000002 2' },
    ]);
  });
});
