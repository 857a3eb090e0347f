import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../test/support/clinic-fixture.js';
import { cryptoRandom } from '../platform/sources.js';
import { ReadDb, WriteDb } from './access.js';
import { openEncryptedDatabase } from './encrypted-database.js';

const WRITES = 'ReadDb.query was given a statement that writes';

let temp: ReturnType<typeof tempDataDir>;
let raw: Database.Database;

beforeEach(() => {
  temp = tempDataDir();
  raw = openEncryptedDatabase(join(temp.dir, 'clinic.db'), cryptoRandom.bytes(32), { create: true });
  raw.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT; INSERT INTO notes VALUES (1, 'x')");
});
afterEach(() => {
  raw.close();
  temp.remove();
});

const noteCount = () => raw.prepare('SELECT count(*) FROM notes').pluck().get();

describe('ReadDb', () => {
  it('reads rows with bound parameters', () => {
    const reader = new ReadDb(raw);
    expect(reader.query<{ body: string }>('SELECT body FROM notes WHERE id = ?').get([1])).toEqual({ body: 'x' });
  });

  it('refuses a DELETE statement', () => {
    expect(() => new ReadDb(raw).query('DELETE FROM notes')).toThrow(WRITES);
    expect(noteCount()).toBe(1);
  });

  it('refuses a writing statement that also returns rows (DELETE ... RETURNING)', () => {
    expect(() => new ReadDb(raw).query('DELETE FROM notes RETURNING id')).toThrow(WRITES);
    expect(noteCount()).toBe(1);
  });

  it('refuses a writing statement even on a WriteDb', () => {
    expect(() => new WriteDb(raw).query("INSERT INTO notes (body) VALUES ('y')")).toThrow(WRITES);
    expect(noteCount()).toBe(1);
  });
});

describe('WriteDb', () => {
  it('rolls back everything a failing transaction wrote', () => {
    const writer = new WriteDb(raw);
    expect(() =>
      writer.transaction(() => {
        writer.command('INSERT INTO notes (body) VALUES (?)').run(['y']);
        throw new Error('handler failed');
      }),
    ).toThrow('handler failed');
    expect(noteCount()).toBe(1);
  });

  it('loads in bulk with a rollback journal and a bigger cache, then returns to WAL and the previous cache', () => {
    const writer = new WriteDb(raw);
    const cache = raw.pragma('cache_size', { simple: true });
    const endBulkLoad = writer.beginBulkLoad(256);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(raw.pragma('cache_size', { simple: true })).toBe(-256 * 1024);
    writer.transaction(() => writer.command('INSERT INTO notes (id, body) VALUES (?, ?)').run([2, 'y']));
    endBulkLoad();
    // A checkpoint right after the switch works (ClinicState.close checkpoints): the log is open.
    expect(raw.pragma('wal_checkpoint(TRUNCATE)', { simple: true })).toBe(0);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('cache_size', { simple: true })).toBe(cache);
    expect(noteCount()).toBe(2);
  });

  it('refuses to change the journal mode inside a transaction', () => {
    const writer = new WriteDb(raw);
    expect(() => writer.transaction(() => writer.beginBulkLoad(256))).toThrow('only outside a transaction');
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
  });
});
