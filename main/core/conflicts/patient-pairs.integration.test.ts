import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../test/support/clinic-fixture.js';
import { WriteDb } from '../db/access.js';
import { openEncryptedDatabase } from '../db/encrypted-database.js';
import { migrate } from '../db/migrate.js';
import { migrations } from '../db/migrations/index.js';
import { cryptoRandom } from '../platform/sources.js';
import { refreshPatientPairs } from './patient-pairs.js';

let temp: ReturnType<typeof tempDataDir>;
let raw: Database.Database;
let db: WriteDb;
const NOW = Date.UTC(2026, 0, 5);
const BRANCH = '01JQ00000000000000000BRANC';

beforeEach(() => {
  temp = tempDataDir();
  raw = openEncryptedDatabase(join(temp.dir, 'clinic.db'), cryptoRandom.bytes(32), { create: true });
  db = new WriteDb(raw);
});
afterEach(() => {
  raw.close();
  temp.remove();
});

const upTo = (version: number) => migrations.filter((migration) => migration.version <= version);

function insertPatient(id: string, patientNumber: string, phone: string | null = '+91 98450 11111'): void {
  raw
    .prepare(
      `INSERT INTO patients (id, patient_number, branch_id, first_name, last_name, date_of_birth, sex, phone,
         created_at, created_by, updated_at, updated_by)
       VALUES (?, ?, ?, 'Meera', 'Krishnan', '1988-04-12', 'female', ?, 1, 'u', 1, 'u')`,
    )
    .run(id, patientNumber, BRANCH, phone);
}

const pairs = () =>
  raw.prepare('SELECT first_id, second_id, reason, status FROM patient_duplicates ORDER BY reason').all();

describe('migration 0070 (domain conflicts)', () => {
  it('rebuilds patients keeping rowids, medical histories and keys, and lets a number repeat', () => {
    migrate(db, upTo(60), () => NOW);
    raw.prepare("INSERT INTO branches (id, name, created_at) VALUES (?, 'Main', 1)").run(BRANCH);
    insertPatient('01JQ0000000000000000000001', 'P000001');
    raw.prepare('DELETE FROM patients_fts').run();
    const rowid = raw.prepare('SELECT rowid FROM patients').pluck().get() as number;
    raw
      .prepare(
        "INSERT INTO patient_medical (patient_id, allergies, conditions, medications, updated_at, updated_by) VALUES (?, '[]', '[]', '[]', 1, 'u')",
      )
      .run('01JQ0000000000000000000001');
    expect(() => insertPatient('01JQ0000000000000000000002', 'P000001')).toThrow(/UNIQUE/);

    migrate(db, migrations, () => NOW);
    expect(raw.prepare('SELECT rowid FROM patients WHERE id = ?').pluck().get('01JQ0000000000000000000001')).toBe(
      rowid,
    );
    expect(raw.prepare('SELECT duplicate_key FROM patients').pluck().get()).toBe(
      'krishnan|meera|1988-04-12|9845011111',
    );
    expect(raw.prepare('SELECT count(*) FROM patient_medical').pluck().get()).toBe(1);
    expect(raw.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    insertPatient('01JQ0000000000000000000002', 'P000001');
    expect(raw.prepare('SELECT count(*) FROM patients').pluck().get()).toBe(2);
  });
});

describe('refreshPatientPairs', () => {
  beforeEach(() => {
    migrate(db, migrations, () => NOW);
    raw.prepare("INSERT INTO branches (id, name, created_at) VALUES (?, 'Main', 1)").run(BRANCH);
  });

  it('pairs the same person and the same number once, ids in order, whichever side arrives last', () => {
    insertPatient('01JQ0000000000000000000002', 'P2-000001');
    expect(db.transaction(() => refreshPatientPairs(db, '01JQ0000000000000000000002', NOW, null))).toBe(0);
    insertPatient('01JQ0000000000000000000001', 'P2-000001');
    expect(db.transaction(() => refreshPatientPairs(db, '01JQ0000000000000000000001', NOW, null))).toBe(2);
    expect(db.transaction(() => refreshPatientPairs(db, '01JQ0000000000000000000002', NOW, null))).toBe(0);
    expect(pairs()).toEqual([
      {
        first_id: '01JQ0000000000000000000001',
        second_id: '01JQ0000000000000000000002',
        reason: 'same-number',
        status: 'open',
      },
      {
        first_id: '01JQ0000000000000000000001',
        second_id: '01JQ0000000000000000000002',
        reason: 'same-person',
        status: 'open',
      },
    ]);
  });

  it('marks every pair of two records merged once one points at the other', () => {
    insertPatient('01JQ0000000000000000000001', 'P000001');
    insertPatient('01JQ0000000000000000000002', 'P2-000001');
    db.transaction(() => refreshPatientPairs(db, '01JQ0000000000000000000002', NOW, null));
    raw
      .prepare('UPDATE patients SET merged_into = ? WHERE id = ?')
      .run('01JQ0000000000000000000001', '01JQ0000000000000000000002');
    db.transaction(() => refreshPatientPairs(db, '01JQ0000000000000000000002', NOW + 1, 'user-1'));
    expect(raw.prepare('SELECT status, resolved_at, resolved_by FROM patient_duplicates').all()).toEqual([
      { status: 'merged', resolved_at: NOW + 1, resolved_by: 'user-1' },
    ]);
  });

  it('finds candidates through indexes, not by scanning patients', () => {
    const plan = (sql: string) =>
      (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x', 'y') as Array<{ detail: string }>).map((row) => row.detail);
    expect(plan('SELECT id, merged_into FROM patients WHERE duplicate_key = ? AND id <> ?').join(' ')).toContain(
      'USING INDEX patients_duplicate_key',
    );
    expect(plan('SELECT id, merged_into FROM patients WHERE patient_number = ? AND id <> ?').join(' ')).toContain(
      'USING INDEX patients_number',
    );
  });
});
