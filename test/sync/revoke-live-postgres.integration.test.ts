/**
 * `device revoke` on PostgreSQL runs in a process of its own; the server processes hear of it by
 * LISTEN/NOTIFY and end the device's live stream at once, not at their next revocation sweep (30 s
 * by default, which is longer than this test waits).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enrollDevice, generateDeviceKeys, requestToken } from '../../main/core/sync/sync-http.js';
import { openLiveStream } from '../support/sync-server/sse-test-reader.js';
import { type TestDatabase, createTestDatabase } from '../support/sync-server/test-database.js';
import { testUlid } from '../support/sync-server/test-support.js';
import { type CommandResult, commandResult } from '../support/sync-server/test-process.js';

const ENTRY = 'sync-server/cli/main.ts';
const masterKey = randomBytes(32).toString('hex');

let db: TestDatabase;
let appUrl: string;
beforeAll(async () => {
  db = await createTestDatabase();
  appUrl = String(db.app.connectionString);
});
afterAll(async () => {
  await db.drop();
});
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

function start(args: string[]): ChildProcess {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    env: { ...env, CHAIRSIDE_SYNC_MASTER_KEY: masterKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(args: string[]): Promise<CommandResult> {
  return commandResult(start(args));
}

async function serve(): Promise<string> {
  const server = start(['--postgres', appUrl, '--port', '0']);
  cleanup.push(() => server.kill('SIGKILL'));
  return new Promise<string>((resolve, reject) => {
    let output = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /"event":"listening","url":"([^"]+)"/.exec(output);
      if (match) resolve(match[1]!);
    });
    server.on('close', () => reject(new Error(`server exited: ${output}`)));
  });
}

describe('device revoke on PostgreSQL', { timeout: 120_000 }, () => {
  it("ends the device's live stream on a running server within seconds", async () => {
    const url = await serve();
    const created = await run(['clinic', 'create', '--name', 'Smile Dental', '--postgres', appUrl]);
    expect(created.code).toBe(0);
    const clinic = JSON.parse(created.stdout) as { clinicId: string; enrollmentCode: string };
    const keys = generateDeviceKeys();
    const deviceId = testUlid();
    const fetchFn = (input: string, init?: RequestInit) => fetch(input, init);
    await enrollDevice(fetchFn, url, {
      code: clinic.enrollmentCode,
      deviceId,
      deviceName: 'Front desk',
      publicKey: keys.publicKey,
    });
    const { token } = await requestToken(fetchFn, url, {
      clinicId: clinic.clinicId,
      deviceId,
      privateKey: keys.privateKey,
    });
    const stream = await openLiveStream(url, token);
    await stream.next('resync');

    const revoked = await run([
      'device',
      'revoke',
      '--clinic',
      clinic.clinicId,
      '--device',
      deviceId,
      '--postgres',
      appUrl,
    ]);
    expect(revoked.code).toBe(0);
    const announcedAt = Date.now();
    expect(await stream.next('revoked')).toEqual({ event: 'revoked', data: { code: 'DEVICE_REVOKED' } });
    await stream.ended;
    expect(Date.now() - announcedAt).toBeLessThan(10_000);
  });
});
