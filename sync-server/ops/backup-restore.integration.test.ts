import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommandResult, commandResult, writeUntilFinished } from '../../test/support/sync-server/test-process.js';
import { deriveServerKeys } from '../auth/server-keys.js';
import { deviceAuthMessage } from '../auth/tokens.js';
import {
  TestDevice,
  seedClinic,
  seedDirectoryUser,
  startTestServer,
} from '../../test/support/sync-server/test-support.js';
import { TestClock, pullWholeLog } from '../../test/support/sync-server/conformance-fixtures.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import type { StoredChange, SyncStorage } from '../storage/storage.js';
import { masterKeyPath, writeMasterKeyFile } from '../cli/master-key.js';
import { BACKUP_MANIFEST_FILE, type BackupManifest } from './sqlite-backup.js';

const ENTRY = 'sync-server/cli/main.ts';
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-backup-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cliEnv(): NodeJS.ProcessEnv {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
  return env;
}

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(args: string[]): Promise<CommandResult> {
  return commandResult(start(args));
}

async function allChanges(storage: SyncStorage, clinicId: string): Promise<StoredChange[]> {
  return pullWholeLog(await storage.clinic(clinicId));
}

/**
 * A live embedded server (in this process) over a data directory whose key file the CLI reads,
 * with one enrolled device that has pushed changes and audit entries.
 */
async function liveServer() {
  const dataDir = tempDir();
  const masterKey = randomBytes(32);
  writeMasterKeyFile(dataDir, masterKey);
  const clock = new TestClock();
  const storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(masterKey), clock });
  cleanup.push(() => storage.close());
  const server = await startTestServer(storage, clock, { serverKeys: deriveServerKeys(masterKey) });
  cleanup.push(() => server.app.close());
  const { clinicId, code } = await seedClinic(server, 'Smile Dental');
  await seedDirectoryUser(server, clinicId);
  const device = new TestDevice(server, 'front-desk-1');
  expect((await device.enroll(code)).statusCode).toBe(200);
  const token = await device.token();
  const write = async () => {
    clock.advance(10);
    await device.pushChangesAndAudit(token, 5);
  };
  for (let i = 0; i < 5; i++) await write();
  return { dataDir, masterKey, storage, clinicId, device, write };
}

/** Backs up while the server keeps writing; resolves once the backup command has exited. */
function backupWhileWriting(live: Awaited<ReturnType<typeof liveServer>>, out: string) {
  return writeUntilFinished(run(['backup', '--data-dir', live.dataDir, '--out', out]), live.write);
}

// Each test spawns the CLI (tsx) several times: slow on a loaded 2-core machine.
describe('backup and restore of the embedded storage', { timeout: 120_000 }, () => {
  it('backs up while the server writes, restores into a new directory, and the restore serves and verifies', async () => {
    const live = await liveServer();
    const out = join(tempDir(), 'backup');
    const { result, writesDuring } = await backupWhileWriting(live, out);
    expect(result.code, result.stderr).toBe(0);
    expect(writesDuring).toBeGreaterThan(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ backup: out, clinics: 1, files: 2 });

    // Still encrypted, and the key is not part of the backup.
    expect(existsSync(join(out, 'server-master.key'))).toBe(false);
    const clinicFile = readFileSync(join(out, 'clinics', `${live.clinicId}.db`));
    expect(clinicFile.subarray(0, 15).toString('latin1')).not.toBe('SQLite format 3');
    expect(clinicFile.includes(Buffer.from('front-desk-1'))).toBe(false);

    const restoredDir = join(tempDir(), 'restored');
    const restored = await run([
      'restore',
      '--from',
      out,
      '--data-dir',
      restoredDir,
      '--master-key-file',
      masterKeyPath(live.dataDir),
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    const report = JSON.parse(restored.stdout) as {
      clinics: Array<{ clinicId: string; devices: number; auditEntries: number; auditVerified: boolean }>;
    };
    expect(report.clinics).toEqual([
      { clinicId: live.clinicId, devices: 1, auditEntries: expect.any(Number), auditVerified: true },
    ]);
    expect(report.clinics[0]!.auditEntries).toBeGreaterThanOrEqual(15);

    // The restored data is a consistent earlier state of the live data: same clinic and device,
    // and its change log is a prefix of the live one, change for change.
    const copy = await openSqliteSyncStorage({
      dataDir: restoredDir,
      keys: masterKeySource(live.masterKey),
      clock: new TestClock(),
    });
    cleanup.push(() => copy.close());
    expect(await copy.listClinics()).toEqual(await live.storage.listClinics());
    expect(await (await copy.clinic(live.clinicId)).listDevices()).toEqual(
      await (await live.storage.clinic(live.clinicId)).listDevices(),
    );
    const restoredChanges = await allChanges(copy, live.clinicId);
    const liveChanges = await allChanges(live.storage, live.clinicId);
    expect(restoredChanges.length).toBeGreaterThanOrEqual(25);
    expect(restoredChanges.length).toBeLessThanOrEqual(liveChanges.length);
    expect(restoredChanges).toEqual(liveChanges.slice(0, restoredChanges.length));
    await copy.close();

    const verified = await run(['audit', 'verify', '--clinic', live.clinicId, '--data-dir', restoredDir]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, clinicId: live.clinicId, failures: [] });

    // The restored directory serves the clinic: the enrolled device still gets a token.
    const server = start(['--data-dir', restoredDir, '--port', '0']);
    cleanup.push(() => {
      server.kill('SIGKILL');
    });
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /"event":"listening","url":"([^"]+)"/.exec(output);
        if (match) resolve(match[1]!);
      });
      server.on('close', () => reject(new Error(`server exited: ${output}`)));
    });
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'chairside-protocol': '1' },
        body: JSON.stringify(body),
      });
    const ids = { clinicId: live.clinicId, deviceId: 'front-desk-1' };
    const { challenge } = (await (await post('/v1/auth/challenge', ids)).json()) as { challenge: string };
    const token = await post('/v1/auth/token', {
      ...ids,
      challenge,
      signature: live.device.sign(deviceAuthMessage(challenge)),
    });
    expect(token.status).toBe(200);
  });

  it('refuses a backup whose file was changed, leaving the target empty', async () => {
    const live = await liveServer();
    const out = join(tempDir(), 'backup');
    expect((await run(['backup', '--data-dir', live.dataDir, '--out', out])).code).toBe(0);
    const file = join(out, 'clinics', `${live.clinicId}.db`);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);

    const target = join(tempDir(), 'restored');
    const key = masterKeyPath(live.dataDir);
    const refused = await run(['restore', '--from', out, '--data-dir', target, '--master-key-file', key]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr).error).toEqual({
      code: 'backup_refused',
      message: expect.stringContaining('differs from the manifest'),
    });
    expect(existsSync(target)).toBe(false);

    // Re-hashing the manifest does not help: SQLCipher's page HMAC refuses the changed page.
    const manifest = JSON.parse(readFileSync(join(out, BACKUP_MANIFEST_FILE), 'utf8')) as BackupManifest;
    const { createHash } = await import('node:crypto');
    const entry = manifest.files.find((f) => f.path === `clinics/${live.clinicId}.db`)!;
    const forged = {
      ...manifest,
      files: manifest.files.map((f) =>
        f === entry ? { ...f, sha256: createHash('sha256').update(bytes).digest('hex') } : f,
      ),
    };
    writeFileSync(join(out, BACKUP_MANIFEST_FILE), JSON.stringify(forged));
    const stillRefused = await run(['restore', '--from', out, '--data-dir', target, '--master-key-file', key]);
    expect(stillRefused.code).toBe(1);
    expect(JSON.parse(stillRefused.stderr).error.message).toContain('does not open with its key or is damaged');
    expect(existsSync(target)).toBe(false);
  });

  it('refuses to restore into a data directory that is not empty, or with another key', async () => {
    const live = await liveServer();
    const out = join(tempDir(), 'backup');
    expect((await run(['backup', '--data-dir', live.dataDir, '--out', out])).code).toBe(0);
    const key = masterKeyPath(live.dataDir);

    const occupied = tempDir();
    mkdirSync(join(occupied, 'clinics'));
    const intoOccupied = await run(['restore', '--from', out, '--data-dir', occupied, '--master-key-file', key]);
    expect(intoOccupied.code).toBe(1);
    expect(JSON.parse(intoOccupied.stderr).error.message).toContain('not empty');
    expect(readdirSync(occupied)).toEqual(['clinics']);

    const otherKeyDir = tempDir();
    writeMasterKeyFile(otherKeyDir, randomBytes(32));
    const target = join(tempDir(), 'restored');
    const wrongKey = await run([
      'restore',
      '--from',
      out,
      '--data-dir',
      target,
      '--master-key-file',
      masterKeyPath(otherKeyDir),
    ]);
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stderr).error.message).toContain('not the key this backup was made with');
    expect(existsSync(target)).toBe(false);
  });

  it('refuses to back up into a directory that is not empty', async () => {
    const live = await liveServer();
    const out = tempDir();
    writeFileSync(join(out, 'keep.txt'), 'operator notes');
    const refused = await run(['backup', '--data-dir', live.dataDir, '--out', out]);
    expect(refused.code).toBe(1);
    expect(readdirSync(out)).toEqual(['keep.txt']);
  });
});
