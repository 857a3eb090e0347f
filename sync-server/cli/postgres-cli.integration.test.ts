import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CommandResult, commandResult } from '../../test/support/sync-server/test-process.js';
import { postgresMigrations } from '../storage/postgres/migrations/index.js';
import { testServerUrl } from '../../test/support/sync-server/test-database.js';

// The real CLI, spawned, against a real PostgreSQL: a fresh database with an owner role and an
// app role made here (as test/support/sync-server/test-database.ts does, but left unmigrated so that
// `db migrate` does the migrating).
const ENTRY = 'sync-server/cli/main.ts';
const suffix = randomBytes(6).toString('hex');
const database = `chairside_cli_${suffix}`;
const ownerRole = `chairside_cli_${suffix}_owner`;
const appRole = `chairside_cli_${suffix}_app`;
const masterKey = randomBytes(32).toString('hex');

function urlFor(user: string): string {
  const url = new URL(testServerUrl());
  url.username = user;
  url.password = '';
  url.pathname = `/${database}`;
  return url.toString();
}

async function asSuperuser(statements: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  try {
    for (const sql of statements) await admin.query(sql);
  } finally {
    await admin.end();
  }
}

beforeAll(async () => {
  // Names are built from a hex suffix only, so interpolating them is inert.
  await asSuperuser([
    `CREATE ROLE ${ownerRole} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
    `CREATE ROLE ${appRole} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT`,
    `CREATE DATABASE ${database} OWNER ${ownerRole}`,
    `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
    `GRANT CONNECT ON DATABASE ${database} TO ${appRole}`,
  ]);
});
afterAll(async () => {
  await asSuperuser([
    `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`,
    `DROP ROLE IF EXISTS ${appRole}`,
    `DROP ROLE IF EXISTS ${ownerRole}`,
  ]);
});

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

function start(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    env: { ...env, CHAIRSIDE_SYNC_MASTER_KEY: masterKey, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(args: string[], extraEnv: Record<string, string> = {}): Promise<CommandResult> {
  return commandResult(start(args, extraEnv));
}

// Each test spawns the CLI (tsx) several times: slow on a loaded 2-core machine.
describe('sync server command line on PostgreSQL', { timeout: 120_000 }, () => {
  it('migrates as the owner role, then creates and lists clinics as the app role', async () => {
    const migrated = await run(['db', 'migrate', '--postgres-owner', urlFor(ownerRole), '--app-role', appRole]);
    expect(migrated.code).toBe(0);
    expect(JSON.parse(migrated.stdout)).toEqual({ applied: postgresMigrations.map((step) => step.version) });
    const again = await run(['db', 'migrate', '--postgres-owner', urlFor(ownerRole), '--app-role', appRole]);
    expect(JSON.parse(again.stdout)).toEqual({ applied: [] });

    const created = await run(['clinic', 'create', '--name', 'Smile Dental', '--postgres', urlFor(appRole)]);
    expect(created.code).toBe(0);
    const clinic = JSON.parse(created.stdout) as { clinicId: string; enrollmentCode: string };
    expect(clinic.enrollmentCode).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);

    // The environment variable selects PostgreSQL as the flag does.
    const listed = await run(['clinic', 'list'], { CHAIRSIDE_SYNC_PG_URL: urlFor(appRole) });
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { clinics: Array<{ clinicId: string }> }).clinics).toEqual([
      { clinicId: clinic.clinicId, name: 'Smile Dental', createdAt: expect.any(Number) },
    ]);
    const verified = await run(['audit', 'verify', '--clinic', clinic.clinicId, '--postgres', urlFor(appRole)]);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, clinicId: clinic.clinicId, logSize: 0 });
    // Compaction runs as the app role too; a clinic without devices has no horizon yet.
    const compacted = await run(['changes', 'compact', '--clinic', clinic.clinicId, '--postgres', urlFor(appRole)]);
    expect(compacted.code).toBe(0);
    expect(JSON.parse(compacted.stdout)).toEqual({ clinicId: clinic.clinicId, horizon: 0, removed: 0, kept: 0 });
  });

  it('refuses to run as the owner role, which row-level security would not bind', async () => {
    const refused = await run(['clinic', 'list', '--postgres', urlFor(ownerRole)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
  });

  it('refuses PostgreSQL without a shared master key', async () => {
    const child = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const { CHAIRSIDE_SYNC_MASTER_KEY: _key, ...env } = process.env;
      const spawned = spawn(
        process.execPath,
        ['--import', 'tsx', ENTRY, 'clinic', 'list', '--postgres', urlFor(appRole)],
        {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      spawned.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      spawned.on('close', (code) => resolve({ code, stderr }));
    });
    expect(child.code).toBe(2);
    expect(JSON.parse(child.stderr).error.message).toContain('CHAIRSIDE_SYNC_MASTER_KEY');
  });

  it('serves on PostgreSQL, answers /ready, and stops on SIGTERM', async () => {
    await run(['db', 'migrate', '--postgres-owner', urlFor(ownerRole), '--app-role', appRole]);
    const server = start(['--postgres', urlFor(appRole), '--port', '0']);
    cleanup.push(() => server.kill('SIGKILL'));
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /"event":"listening","url":"([^"]+)"/.exec(output);
        if (match) resolve(match[1]!);
      });
      server.on('close', () => reject(new Error(`server exited: ${output}`)));
    });
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
