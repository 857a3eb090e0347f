import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../test/support/clinic-fixture.js';
import { PATIENT_SEARCH_SQL } from '../patients/patient-search.js';
import { cryptoRandom } from '../platform/sources.js';
import { WriteDb } from './access.js';
import { openEncryptedDatabase } from './encrypted-database.js';
import { type Migration, MigrationError, migrate } from './migrate.js';
import { migrations } from './migrations/index.js';

let temp: ReturnType<typeof tempDataDir>;
let raw: Database.Database;
let db: WriteDb;
const now = () => Date.UTC(2026, 0, 5);

beforeEach(() => {
  temp = tempDataDir();
  raw = openEncryptedDatabase(join(temp.dir, 'clinic.db'), cryptoRandom.bytes(32), { create: true });
  db = new WriteDb(raw);
});
afterEach(() => {
  raw.close();
  temp.remove();
});

/** A step that creates one table. */
const tableStep = (version: number, name: string): Migration => ({
  version,
  name,
  up: (target) => target.execScript(`CREATE TABLE ${name} (id INTEGER PRIMARY KEY) STRICT`),
});

const appliedVersions = () => raw.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
const tableExists = (name: string) =>
  raw.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?").pluck().get(name) === 1;

describe('migrate', () => {
  it('applies every shipped step to an empty database and records each version', () => {
    expect(migrate(db, migrations, now)).toEqual(migrations.map((migration) => migration.version));
    expect(appliedVersions()).toEqual(migrations.map((migration) => migration.version));
  });

  it('records the name and time of each applied step', () => {
    migrate(db, migrations, now);
    expect(raw.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all()).toEqual(
      migrations.map((step) => ({ version: step.version, name: step.name, applied_at: now() })),
    );
  });

  it('applies nothing when run again on an up-to-date database', () => {
    migrate(db, migrations, now);
    expect(migrate(db, migrations, now)).toEqual([]);
    expect(appliedVersions()).toEqual(migrations.map((migration) => migration.version));
  });

  it('applies only the steps added since the last run', () => {
    migrate(db, [tableStep(10, 'first')], now);
    expect(migrate(db, [tableStep(10, 'first'), tableStep(20, 'second')], now)).toEqual([20]);
  });

  it('refuses a database written by a newer app and tells the user to update', () => {
    migrate(db, migrations, now);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9990, 'from-the-future', 0)").run();
    expect(() => migrate(db, migrations, now)).toThrow(MigrationError);
    expect(() => migrate(db, migrations, now)).toThrow(/newer version of Chairside.*update the app/);
  });

  it('fails loudly when an applied step has another name than the shipped one', () => {
    migrate(db, [tableStep(10, 'first'), tableStep(20, 'second')], now);
    const renamed = [tableStep(10, 'first'), tableStep(20, 'renamed')];
    expect(() => migrate(db, renamed, now)).toThrow(
      new MigrationError("applied migration 20 (second) does not match the app's migration 20 (renamed)"),
    );
  });

  it('fails loudly when the app lacks a step the database applied in the middle', () => {
    migrate(db, [tableStep(10, 'first'), tableStep(20, 'second'), tableStep(30, 'third')], now);
    expect(() => migrate(db, [tableStep(10, 'first'), tableStep(30, 'third')], now)).toThrow(MigrationError);
  });

  it('fails loudly when the app slots a step in before one the database already applied', () => {
    migrate(db, [tableStep(10, 'first'), tableStep(30, 'third')], now);
    const slotted = [tableStep(10, 'first'), tableStep(20, 'second'), tableStep(30, 'third')];
    expect(() => migrate(db, slotted, now)).toThrow(MigrationError);
    expect(tableExists('second')).toBe(false);
  });

  it.each([
    ['a repeated number', [10, 10]],
    ['a decreasing number', [20, 10]],
  ])('refuses a list of steps with %s and changes nothing', (_label, versions) => {
    const steps = versions.map((version, index) => tableStep(version, `step${index}`));
    expect(() => migrate(db, steps, now)).toThrow(MigrationError);
    expect(tableExists('schema_migrations')).toBe(false);
    expect(tableExists('step0')).toBe(false);
  });

  it('rolls back a failing step: its table is not created and its version not recorded', () => {
    const failing: Migration = {
      version: 20,
      name: 'half-done',
      up(target) {
        target.execScript('CREATE TABLE half_done (id INTEGER PRIMARY KEY) STRICT');
        throw new Error('disk full');
      },
    };
    expect(() => migrate(db, [tableStep(10, 'first'), failing], now)).toThrow('disk full');
    expect(tableExists('half_done')).toBe(false);
    expect(appliedVersions()).toEqual([10]);
  });
});

describe('shipped migrations', () => {
  beforeEach(() => {
    migrate(db, migrations, now);
  });

  /** Inserts one audit entry as the audit log would, and returns its id. */
  function insertAuditEntry(): number | bigint {
    return raw
      .prepare(
        `INSERT INTO audit_log (body, prev_hash, hash)
         VALUES (json_object('deviceId', 'dev', 'epoch', 1, 'seq', 1, 'time', 0, 'userId', 'user', 'role', 'Admin',
           'action', 'auth.signIn', 'outcome', 'success', 'purpose', 'security', 'legalBasis', 'legal-obligation'), 'p', 'h')`,
      )
      .run().lastInsertRowid;
  }

  it('refuses to UPDATE an audit entry', () => {
    const id = insertAuditEntry();
    expect(() =>
      raw.prepare("UPDATE audit_log SET body = json_set(body, '$.action', 'forged') WHERE id = ?").run(id),
    ).toThrow('audit entries are append-only');
  });

  it('refuses to DELETE an audit entry', () => {
    const id = insertAuditEntry();
    expect(() => raw.prepare('DELETE FROM audit_log WHERE id = ?').run(id)).toThrow('audit entries are append-only');
  });

  it('creates every ordinary table as STRICT', () => {
    const tables = raw
      .prepare(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'",
      )
      .pluck()
      .all() as string[];
    const sqlOf = raw.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").pluck();
    expect(tables.length).toBeGreaterThanOrEqual(10);
    const notStrict = tables.filter((name) => !/\)\s*STRICT\b/i.test(String(sqlOf.get(name))));
    expect(notStrict).toEqual([]);
  });

  /** The query plan of the patient search, from the SQL the search code itself prepared. */
  function patientSearchPlan(): string {
    const sql = PATIENT_SEARCH_SQL;
    const plan = raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({
      expression: 'name:"zeph"*',
      exactNumber: null,
      includeArchived: 0,
      allBranches: 0,
      branchIds: '[]',
      limit: 20,
      offset: 0,
    }) as {
      detail: string;
    }[];
    return plan.map((step) => step.detail).join('\n');
  }

  it('answers the patient search from the full-text index with the MATCH pushed into it', () => {
    // FTS5 marks a MATCH constraint it serves from its index with "M" in the index string.
    expect(patientSearchPlan()).toMatch(/SCAN patients_fts VIRTUAL TABLE INDEX \d+:M/);
  });

  it('joins search hits to patients by rowid, not by scanning patients', () => {
    expect(patientSearchPlan()).toMatch(/SEARCH p USING INTEGER PRIMARY KEY \(rowid=\?\)/);
  });

  it("reads a user's audit entries newest first through audit_log_user without sorting", () => {
    const plan = raw
      .prepare('EXPLAIN QUERY PLAN SELECT * FROM audit_log WHERE user_id = ? ORDER BY id DESC')
      .all('u') as {
      detail: string;
    }[];
    const details = plan.map((step) => step.detail).join('\n');
    expect(details).toMatch(/SEARCH audit_log USING INDEX audit_log_user \(user_id=\?\)/);
    expect(details).not.toMatch(/TEMP B-TREE/);
  });
});
