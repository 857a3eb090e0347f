import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommandResult, commandResult } from '../../test/support/sync-server/test-process.js';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from '../http/protocol.js';
import { TestClock, seedSupersededEdits } from '../../test/support/sync-server/conformance-fixtures.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import { loadExistingMasterKey, masterKeyPath } from './master-key.js';

const ENTRY = 'sync-server/cli/main.ts';
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-sync-cli-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function start(args: string[]): ChildProcess {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _ignored, ...env } = process.env;
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the CLI to completion. */
function run(args: string[]): Promise<CommandResult> {
  return commandResult(start(args));
}

describe('sync server command line', () => {
  it('creates a clinic printing exactly one JSON line, then lists it', async () => {
    const dir = dataDir();
    const created = await run(['clinic', 'create', '--name', 'Smile Dental', '--data-dir', dir]);
    expect(created.code).toBe(0);
    const lines = created.stdout.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    const clinic = JSON.parse(lines[0]!) as { clinicId: string; enrollmentCode: string };
    expect(Object.keys(clinic).sort()).toEqual(['clinicId', 'enrollmentCode']);
    expect(clinic.enrollmentCode).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);
    expect(statSync(masterKeyPath(dir)).mode & 0o777).toBe(0o600);

    const listed = await run(['clinic', 'list', '--data-dir', dir]);
    expect(JSON.parse(listed.stdout).clinics).toEqual([
      { clinicId: clinic.clinicId, name: 'Smile Dental', createdAt: expect.any(Number) },
    ]);
    const unknown = await run(['device', 'list', '--clinic', 'not-a-clinic', '--data-dir', dir]);
    expect(unknown.code).not.toBe(0);
    expect(JSON.parse(unknown.stderr).error.code).toBe('unknown_clinic');
  });

  it('refuses a compaction schedule more often than every 3 minutes', async () => {
    const result = await run(['--data-dir', dataDir(), '--port', '0', '--compact-every-hours', '0']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr).error.message).toContain('--compact-every-hours');
  });

  it('refuses plain HTTP on a non-loopback address', async () => {
    const result = await run(['--data-dir', dataDir(), '--host', '0.0.0.0', '--port', '0']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr).error.message).toContain('refusing plain HTTP');
  });

  it('serves enrollment on loopback, lists and revokes the device, and stops on SIGTERM', async () => {
    const dir = dataDir();
    const clinic = JSON.parse((await run(['clinic', 'create', '--name', 'Smile', '--data-dir', dir])).stdout) as {
      clinicId: string;
      enrollmentCode: string;
    };
    // With a compaction schedule running, which must not hold up the shutdown.
    const server = start(['--data-dir', dir, '--port', '0', '--compact-every-hours', '24']);
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
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const { publicKey } = generateKeyPairSync('ed25519');
    const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
    const enrolled = await fetch(`${url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [PROTOCOL_HEADER]: String(SYNC_PROTOCOL_VERSION) },
      body: JSON.stringify({
        code: clinic.enrollmentCode,
        deviceId: 'front-desk-1',
        deviceName: 'Front desk',
        publicKey: encodeBase64(raw),
      }),
    });
    expect(enrolled.status).toBe(200);
    expect(((await enrolled.json()) as { clinicId: string }).clinicId).toBe(clinic.clinicId);
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);

    const devices = JSON.parse(
      (await run(['device', 'list', '--clinic', clinic.clinicId, '--data-dir', dir])).stdout,
    ) as { devices: Array<{ deviceId: string; revokedAt: number | null }> };
    expect(devices.devices.map((device) => [device.deviceId, device.revokedAt])).toEqual([['front-desk-1', null]]);
    // Enrolled, never pulled: nothing recorded yet.
    expect(devices.devices[0]).toMatchObject({ pulledAfter: null, pulledAt: null });
    const revoked = await run([
      'device',
      'revoke',
      '--clinic',
      clinic.clinicId,
      '--device',
      'front-desk-1',
      '--data-dir',
      dir,
    ]);
    expect(JSON.parse(revoked.stdout)).toEqual({ deviceId: 'front-desk-1', revokedAt: expect.any(Number) });
  });

  it("compacts a clinic's change log below the horizon, printing one JSON line", async () => {
    const dir = dataDir();
    const { clinicId } = JSON.parse((await run(['clinic', 'create', '--name', 'Smile', '--data-dir', dir])).stdout) as {
      clinicId: string;
    };
    // Three edits of one patient's name, pulled by the clinic's only device: the first two are superseded.
    const keys = masterKeySource(loadExistingMasterKey(masterKeyPath(dir)));
    const storage = await openSqliteSyncStorage({ dataDir: dir, keys, clock: new TestClock() });
    try {
      const store = await storage.clinic(clinicId);
      await seedSupersededEdits(storage, store);
    } finally {
      await storage.close();
    }
    const compacted = await run(['changes', 'compact', '--clinic', clinicId, '--data-dir', dir]);
    expect(compacted.code).toBe(0);
    expect(compacted.stdout.split('\n')).toHaveLength(2);
    expect(JSON.parse(compacted.stdout)).toEqual({ clinicId, horizon: 3, removed: 2, kept: 1 });
    const again = await run(['changes', 'compact', '--clinic', clinicId, '--data-dir', dir]);
    expect(JSON.parse(again.stdout)).toEqual({ clinicId, horizon: 3, removed: 0, kept: 1 });
    // The operator sees where each device is, to find one that holds the horizon back.
    const listed = JSON.parse((await run(['device', 'list', '--clinic', clinicId, '--data-dir', dir])).stdout) as {
      devices: Array<{ deviceId: string; pulledAfter: number | null; pulledAt: number | null }>;
    };
    expect(listed.devices).toEqual([
      expect.objectContaining({ deviceId: 'front-desk-1', pulledAfter: 3, pulledAt: expect.any(Number) }),
    ]);
    const missing = await run(['changes', 'compact', '--data-dir', dir]);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stderr).error.message).toContain('--clinic');
  });
});
