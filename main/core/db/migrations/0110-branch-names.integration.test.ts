/**
 * Migration 0110 rebuilds `branches` without the UNIQUE name constraint: branches, the patients
 * and user assignments that reference them survive unchanged, foreign keys still hold, and a
 * second branch of an existing name can then be stored (as sync may deliver one).
 */
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../../test/support/clinic-fixture.js';
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

describe('migration 0110 (branch names)', () => {
  it('keeps branches and what references them, and then stores a second branch of the same name', () => {
    migrate(
      db,
      migrations.filter((migration) => migration.version < 110),
      () => NOW,
    );
    expect(() =>
      raw.exec(`INSERT INTO branches (id, name, created_at) VALUES ('b1', 'Main Street', 1), ('b9', 'main street', 2)`),
    ).toThrow(/UNIQUE/);
    raw.exec(`
      INSERT INTO branches (id, name, created_at) VALUES ('b1', 'Main Street', 1), ('b2', 'Hill Road', 2);
      INSERT INTO users (id, username, display_name, password_hash, role, all_branches, disabled, password_changed_at,
          created_at, updated_at)
        VALUES ('u1', 'asha', 'Asha', 'x', 'Receptionist', 0, 0, 1, 1, 1);
      INSERT INTO user_branches (user_id, branch_id) VALUES ('u1', 'b2');
    `);
    const before = raw.prepare('SELECT rowid, * FROM branches ORDER BY rowid').all();

    migrate(db, migrations, () => NOW);

    expect(raw.prepare('SELECT rowid, * FROM branches ORDER BY rowid').all()).toEqual(before);
    expect(raw.prepare('SELECT branch_id FROM user_branches').pluck().all()).toEqual(['b2']);
    expect(raw.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    raw.exec(`INSERT INTO branches (id, name, created_at) VALUES ('b3', 'main street', 3)`);
    expect(raw.prepare("SELECT id FROM branches WHERE name = 'MAIN STREET' ORDER BY id").pluck().all()).toEqual([
      'b1',
      'b3',
    ]);
    expect(() => raw.exec(`INSERT INTO user_branches (user_id, branch_id) VALUES ('u1', 'nope')`)).toThrow(
      /FOREIGN KEY/,
    );
  });
});
