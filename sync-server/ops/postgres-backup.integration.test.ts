import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommandResult, commandResult, writeUntilFinished } from '../../test/support/sync-server/test-process.js';
import { deriveServerKeys } from '../auth/server-keys.js';
import {
  TestDevice,
  enrolledDevice,
  seedClinic,
  seedDirectoryUser,
  startTestServer,
  validBatch,
} from '../../test/support/sync-server/test-support.js';
import { TestClock, pullWholeLog } from '../../test/support/sync-server/conformance-fixtures.js';
import { LOG_TABLES, TENANT_TABLES, postgresMigrations } from '../storage/postgres/migrations/index.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { type TestDatabase, createTestDatabase } from '../../test/support/sync-server/test-database.js';
import type { StoredChange, SyncStorage } from '../storage/storage.js';
import { POSTGRES_DUMP_FILE, type PostgresBackupManifest, redactUrl } from './postgres-backup.js';
import { BACKUP_MANIFEST_FILE } from './sqlite-backup.js';

const ENTRY = 'sync-server/cli/main.ts';
// Trust authentication ignores passwords: this one stands for a real one, and must never be printed.
const DUMMY_PASSWORD = 'dummy-owner-pw-5f3a9c';
const NEWEST_MIGRATION = postgresMigrations.at(-1)!.version;

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  // Every step runs even when one fails, so no database outlives its test.
  const failures: unknown[] = [];
  for (const step of cleanup.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-pg-backup-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function testDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  return db;
}

async function asRole(config: pg.ClientConfig, statements: string[]): Promise<void> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The owner's URL with a password in it, which the CLI must never print. */
function ownerUrl(db: TestDatabase): string {
  const url = new URL(String(db.owner.connectionString));
  url.password = DUMMY_PASSWORD;
  return url.toString();
}

/** A second database with its owner and app roles, as an operator makes it: no storage schemas yet. */
async function emptyTarget(): Promise<TestDatabase> {
  const db = await testDatabase();
  await asRole(db.owner, ['DROP SCHEMA chairside, chairside_auth CASCADE']);
  return db;
}

async function schemasOf(db: TestDatabase): Promise<string[]> {
  const client = new pg.Client(db.superuser);
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'chairside%' ORDER BY nspname`,
    );
    return rows.map((row) => row.nspname);
  } finally {
    await client.end();
  }
}

function run(args: string[], masterKey?: Buffer): Promise<CommandResult> {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
  return commandResult(
    spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
      env: masterKey ? { ...env, CHAIRSIDE_SYNC_MASTER_KEY: masterKey.toString('hex') } : env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

async function allChanges(storage: SyncStorage, clinicId: string): Promise<StoredChange[]> {
  return pullWholeLog(await storage.clinic(clinicId));
}

/**
 * A live server on a PostgreSQL test database with two clinics, each with an enrolled device
 * that has pushed changes and audit entries (so each log has signed checkpoints). The owner
 * role gets BYPASSRLS, as the docs tell the operator to do before backing up.
 */
async function liveServer(options: { bypassRls: boolean } = { bypassRls: true }) {
  const db = await testDatabase();
  if (options.bypassRls) await asRole(db.superuser, [`ALTER ROLE ${db.ownerRole} BYPASSRLS`]);
  const masterKey = randomBytes(32);
  const serverKeys = deriveServerKeys(masterKey);
  const clock = new TestClock();
  const storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey });
  cleanup.push(() => storage.close());
  const server = await startTestServer(storage, clock, { serverKeys });
  cleanup.push(() => server.app.close());
  const devices: Array<{ clinicId: string; device: TestDevice; token: string }> = [];
  for (const [name, deviceId] of [
    ['Smile Dental', 'front-desk-1'],
    ['Bright Teeth', 'chair-2'],
  ] as const) {
    const { clinicId, code } = await seedClinic(server, name);
    await seedDirectoryUser(server, clinicId);
    const device = new TestDevice(server, deviceId);
    expect((await device.enroll(code)).statusCode).toBe(200);
    devices.push({ clinicId, device, token: await device.token() });
  }
  /** One push of changes and one of audit entries per clinic, as working devices send them. */
  const write = async () => {
    clock.advance(10);
    for (const { device, token } of devices) await device.pushChangesAndAudit(token, 4);
  };
  for (let i = 0; i < 3; i++) await write();
  return { db, masterKey, serverKeys, storage, clinicIds: devices.map((d) => d.clinicId), write };
}

type Live = Awaited<ReturnType<typeof liveServer>>;

async function backUp(live: Live): Promise<string> {
  const out = join(tempDir(), 'backup');
  const result = await run(['backup', '--postgres-owner', ownerUrl(live.db), '--out', out]);
  expect(result.code, result.stderr).toBe(0);
  return out;
}

function restoreArgs(from: string, target: TestDatabase): string[] {
  return [
    'restore',
    '--from',
    from,
    '--postgres-owner',
    ownerUrl(target),
    '--app-role',
    target.appRole,
    '--postgres',
    String(target.app.connectionString),
  ];
}

// Each test spawns the CLI (tsx) and makes databases: slow on a loaded 2-core machine.
describe('backup and restore of the PostgreSQL storage', { timeout: 180_000 }, () => {
  it('backs up while the server writes, restores into an empty database, and the app role serves it as before', async () => {
    const live = await liveServer();
    const out = join(tempDir(), 'backup');
    const { result, writesDuring } = await writeUntilFinished(
      run(['backup', '--postgres-owner', ownerUrl(live.db), '--out', out]),
      live.write,
    );
    expect(writesDuring).toBeGreaterThan(0);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(DUMMY_PASSWORD);
    expect(JSON.parse(result.stdout)).toMatchObject({
      backup: out,
      kind: 'postgres',
      clinics: 2,
      migrationVersion: NEWEST_MIGRATION,
      encrypted: false,
      note: expect.stringContaining('not encrypted'),
    });
    // In the storage's listing order (creation time, then id).
    const listed = (await live.storage.listClinics()).map((clinic) => clinic.clinicId);
    expect([...listed].sort()).toEqual([...live.clinicIds].sort());
    const manifest = JSON.parse(readFileSync(join(out, BACKUP_MANIFEST_FILE), 'utf8')) as PostgresBackupManifest;
    expect(manifest).toMatchObject({ kind: 'postgres', migrationVersion: NEWEST_MIGRATION, clinics: listed });
    expect(readdirSync(out).sort()).toEqual([POSTGRES_DUMP_FILE, BACKUP_MANIFEST_FILE].sort());

    const target = await emptyTarget();
    const restored = await run(restoreArgs(out, target), live.masterKey);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout + restored.stderr).not.toContain(DUMMY_PASSWORD);
    const report = JSON.parse(restored.stdout) as {
      restored: string;
      clinics: Array<{ clinicId: string; devices: number; auditEntries: number; auditVerified: boolean }>;
    };
    expect(report.restored).toContain('***');
    expect(report.clinics).toEqual(
      listed.map((clinicId) => ({
        clinicId,
        devices: 1,
        auditEntries: expect.any(Number),
        auditVerified: true,
      })),
    );

    // The restore is the dump's snapshot: same clinics and devices, and each change log is a
    // prefix of the live one, change for change.
    const clock = new TestClock();
    const copy = await openPostgresSyncStorage({ connection: target.app, clock, masterKey: live.masterKey });
    cleanup.push(() => copy.close());
    expect(await copy.listClinics()).toEqual(await live.storage.listClinics());
    for (const clinicId of live.clinicIds) {
      expect(await (await copy.clinic(clinicId)).listDevices()).toEqual(
        await (await live.storage.clinic(clinicId)).listDevices(),
      );
      const restoredChanges = await allChanges(copy, clinicId);
      const liveChanges = await allChanges(live.storage, clinicId);
      expect(restoredChanges.length).toBeGreaterThanOrEqual(12);
      expect(restoredChanges).toEqual(liveChanges.slice(0, restoredChanges.length));
    }

    // Row-level security is still forced on every tenant table.
    const superuser = new pg.Client(target.superuser);
    await superuser.connect();
    cleanup.push(() => superuser.end());
    const { rows: security } = await superuser.query<{ relname: string; forced: boolean }>(
      `SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity AS forced FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'chairside' AND c.relname = ANY($1::text[])`,
      [[...TENANT_TABLES]],
    );
    expect(security.map((row) => row.relname).sort()).toEqual([...TENANT_TABLES].sort());
    expect(security.every((row) => row.forced)).toBe(true);

    // The app role owns nothing, and still cannot rewrite or remove a logged row.
    const { rows: owners } = await superuser.query<{ owner: string }>(
      `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('chairside', 'chairside_auth')`,
    );
    expect(owners).toEqual([{ owner: target.ownerRole }]);
    const app = new pg.Client(target.app);
    await app.connect();
    cleanup.push(() => app.end());
    const asApp = async (sql: string) => {
      await app.query('BEGIN');
      try {
        await app.query(`SELECT set_config('chairside.clinic_id', $1, true)`, [listed[0]]);
        return await app.query(sql);
      } finally {
        await app.query('ROLLBACK');
      }
    };
    expect((await asApp('SELECT count(*)::int AS n FROM chairside.audit_entries')).rows[0]).toEqual({
      n: report.clinics[0]!.auditEntries,
    });
    for (const table of ['audit_entries', 'audit_leaves', 'audit_checkpoints', 'security_events']) {
      await expect(asApp(`UPDATE chairside.${table} SET clinic_id = clinic_id`)).rejects.toThrow(/permission denied/);
      await expect(asApp(`DELETE FROM chairside.${table}`)).rejects.toThrow(/permission denied/);
    }
    for (const table of LOG_TABLES) {
      await expect(asApp(`UPDATE chairside.${table} SET clinic_id = clinic_id`)).rejects.toThrow(/permission denied/);
    }

    // The restored database serves: a new clinic enrolls a device that pushes changes and audit
    // entries, an old device gets a token, and compaction (the one guarded DELETE) runs.
    const server = await startTestServer(copy, clock, { serverKeys: live.serverKeys });
    cleanup.push(() => server.app.close());
    const fresh = await enrolledDevice(server, 'New Clinic', 'tablet-3');
    await seedDirectoryUser(server, fresh.clinicId);
    const pushed = await server.call('POST', '/v1/changes', {
      token: fresh.token,
      body: { protocolVersion: 1, batches: [validBatch('tablet-3', 3)] },
    });
    expect(pushed.statusCode).toBe(200);
    const audited = await server.call('POST', '/v1/audit', {
      token: fresh.token,
      body: fresh.device.auditPush(fresh.device.chain.next(2)),
    });
    expect(audited.statusCode).toBe(200);
    expect(await (await copy.clinic(live.clinicIds[0]!)).compactChanges()).toMatchObject({ removed: 0 });

    const verified = await run(
      ['audit', 'verify', '--clinic', fresh.clinicId, '--postgres', String(target.app.connectionString)],
      live.masterKey,
    );
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, entries: 2 });
  });

  it('refuses a changed dump, and audit logs that do not verify under the key given, leaving the target without the storage', async () => {
    const live = await liveServer();
    const out = await backUp(live);
    const tampered = join(tempDir(), 'tampered');
    cpSync(out, tampered, { recursive: true });
    const dump = readFileSync(join(tampered, POSTGRES_DUMP_FILE));
    dump[Math.floor(dump.length / 2)]! ^= 0x01;
    writeFileSync(join(tampered, POSTGRES_DUMP_FILE), dump);

    const target = await emptyTarget();
    const refused = await run(restoreArgs(tampered, target), live.masterKey);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr).error).toEqual({
      code: 'backup_refused',
      message: expect.stringContaining('differs from the manifest'),
    });
    expect(await schemasOf(target)).toEqual([]);

    // A restore checked against the wrong master key fails (the clinics' data keys do not unwrap
    // under it, before any audit log is read) and takes back what it wrote.
    const wrongKey = await run(restoreArgs(out, target), randomBytes(32));
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stderr).error.message).toContain('the master key does not open the clinics');
    expect(await schemasOf(target)).toEqual([]);
  });

  it('refuses to restore over a database that already holds the storage', async () => {
    const live = await liveServer();
    const out = await backUp(live);
    const before = await allChanges(live.storage, live.clinicIds[0]!);

    // The source itself, and a database that was merely migrated, both hold the schemas.
    for (const target of [live.db, await testDatabase()]) {
      const refused = await run(restoreArgs(out, target), live.masterKey);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stderr).error).toEqual({
        code: 'backup_refused',
        message: expect.stringContaining('already holds the storage'),
      });
      expect(refused.stderr).not.toContain(DUMMY_PASSWORD);
    }
    expect(await allChanges(live.storage, live.clinicIds[0]!)).toEqual(before);
  });

  it('refuses a backup role that row-level security binds, and an out directory that is not empty', async () => {
    const live = await liveServer({ bypassRls: false });
    const out = join(tempDir(), 'backup');
    const bound = await run(['backup', '--postgres-owner', ownerUrl(live.db), '--out', out]);
    expect(bound.code).toBe(1);
    expect(JSON.parse(bound.stderr).error).toEqual({
      code: 'backup_refused',
      message: expect.stringContaining('BYPASSRLS'),
    });
    expect(bound.stderr).not.toContain(DUMMY_PASSWORD);

    await asRole(live.db.superuser, [`ALTER ROLE ${live.db.ownerRole} BYPASSRLS`]);
    const occupied = tempDir();
    writeFileSync(join(occupied, 'keep.txt'), 'operator notes');
    const refused = await run(['backup', '--postgres-owner', ownerUrl(live.db), '--out', occupied]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr).error.code).toBe('backup_refused');
    expect(readdirSync(occupied)).toEqual(['keep.txt']);
  });
});

describe('redactUrl', () => {
  it('replaces the password of a connection URL and keeps the rest', () => {
    expect(redactUrl('postgres://owner:s3cr%40t@db.example:5432/chairside?sslmode=require')).toBe(
      'postgres://owner:***@db.example:5432/chairside?sslmode=require',
    );
    expect(redactUrl('postgres://owner@db/chairside?password=s3cr3t')).not.toContain('s3cr3t');
    expect(redactUrl('postgres://owner@db/chairside')).toBe('postgres://owner@db/chairside');
  });

  it('prints nothing of a string that is not a URL', () => {
    expect(redactUrl('host=db user=owner password=s3cr3t')).not.toContain('s3cr3t');
  });
});
