/**
 * Migration 0120 drops the field clocks an insert wrote (the row's insert clock stands for them
 * since then, main/core/sync/field-clocks.ts) and keeps every clock an update raised.
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
const INSERTED = '019b8d627a80-0001-01JDEV1000000000000000000A';
const OLDER = '019b8d627a00-0001-01JDEV2000000000000000000B';
const UPDATED = '019b8d627b00-0002-01JDEV2000000000000000000B';
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

describe('migration 0120 (insert clocks)', () => {
  it('drops field clocks no newer than the row insert and keeps update clocks and rows without an insert clock', () => {
    migrate(
      db,
      migrations.filter((migration) => migration.version < 120),
      () => NOW,
    );
    const clock = raw.prepare('INSERT INTO sync_field_clock (entity, row_id, field, hlc) VALUES (?, ?, ?, ?)');
    raw.prepare("INSERT INTO sync_row_clock (entity, row_id, inserted_hlc) VALUES ('patient', 'p1', ?)").run(INSERTED);
    clock.run('patient', 'p1', 'first_name', INSERTED);
    clock.run('patient', 'p1', 'last_name', OLDER);
    clock.run('patient', 'p1', 'phone', UPDATED);
    // A row known only from an update (its insert not pulled yet) keeps its clock.
    clock.run('patient', 'p2', 'phone', OLDER);

    migrate(db, migrations, () => NOW);

    expect(raw.prepare('SELECT row_id, field, hlc FROM sync_field_clock ORDER BY row_id, field').all()).toEqual([
      { row_id: 'p1', field: 'phone', hlc: UPDATED },
      { row_id: 'p2', field: 'phone', hlc: OLDER },
    ]);
    expect(raw.prepare('SELECT inserted_hlc FROM sync_row_clock').pluck().all()).toEqual([INSERTED]);
  });
});
