/**
 * Audit export and offline verification (docs/sync-protocol.md, "Audit export and offline
 * verification (built)"): two real devices push their chains to a real sync server whose data
 * directory the operator command then exports (`npm run server -- audit export`); the auditor's
 * command (`npm run audit:verify`) accepts the file, and refuses each single tampering of it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CommandResult, commandResult } from '../support/sync-server/test-process.js';
import { ManualClock } from '../../main/core/platform/sources.js';
import { type CanonicalValue, canonicalJson } from '../../shared/canonical-json.js';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import { verifyAuditExport } from '../../sync-server/audit-export/verify-export.js';
import { deriveServerKeys } from '../../sync-server/auth/server-keys.js';
import { loadOrCreateMasterKey } from '../../sync-server/cli/master-key.js';
import { startTestServer } from '../support/sync-server/test-support.js';
import { TestClock } from '../support/sync-server/conformance-fixtures.js';
import { nodeSha256 } from '../../sync-server/storage/node-crypto.js';
import { masterKeySource } from '../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../sync-server/storage/sqlite/sqlite-storage.js';
import { connectAuditDevices, localChain } from './audit-devices.js';

/** Runs a command to completion with this project's tsx. */
function run(command: string, args: string[]): Promise<CommandResult> {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _ignored, ...env } = process.env;
  return commandResult(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

const work = mkdtempSync(join(tmpdir(), 'chairside-audit-export-'));
const dataDir = join(work, 'server');
const exportFile = join(work, 'clinic-audit.jsonl');
let serverClinicId: string;
let verifierKey: string;
let lines: string[];
let pushedByDevices: number;

beforeAll(async () => {
  // A server over the data directory the operator command opens, keyed by its master key.
  const masterKey = loadOrCreateMasterKey(dataDir, {});
  const clock = new TestClock(new ManualClock().now());
  const storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(masterKey), clock });
  const keys = deriveServerKeys(masterKey);
  verifierKey = formatEd25519VerifierKey(nodeSha256, keys.checkpointKeyName, keys.checkpointPublicKey);
  const server = await startTestServer(storage, clock, { serverKeys: keys });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  const devices = await connectAuditDevices({ url, storage });
  serverClinicId = devices.serverClinicId;
  await devices.a.asAdmin('patients.create', { branchId: devices.a.branchId, firstName: 'Anil', lastName: 'Rao' });
  await devices.a.asAdmin('sync.now', {});
  await devices.b.admin.ok('sync.now', {});
  pushedByDevices = (await localChain(devices.a.dataDir)).accepted + (await localChain(devices.b.dataDir)).accepted;
  await devices.close();
  await server.app.close();
  await storage.close();

  const exported = await run(process.execPath, [
    '--import',
    'tsx',
    'sync-server/cli/main.ts',
    'audit',
    'export',
    '--clinic',
    serverClinicId,
    '--data-dir',
    dataDir,
    '--out',
    exportFile,
  ]);
  expect(exported.stderr).toBe('');
  expect(exported.code).toBe(0);
  expect(JSON.parse(exported.stdout)).toMatchObject({ clinicId: serverClinicId, entries: pushedByDevices });
  lines = readFileSync(exportFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The export with one line replaced (by index: 0 is the header). */
function withLine(index: number, change: (value: Record<string, unknown>) => Record<string, unknown>): string[] {
  const copy = [...lines];
  copy[index] = JSON.stringify(change(JSON.parse(copy[index]!) as Record<string, unknown>));
  return copy;
}

describe('audit export', () => {
  it('writes every entry both devices pushed, under the latest signed checkpoint', () => {
    const header = JSON.parse(lines[0]!) as { entries: number; verifierKey: string; checkpoint: { size: number } };
    expect(header).toMatchObject({ entries: pushedByDevices, verifierKey, checkpoint: { size: pushedByDevices } });
    expect(lines).toHaveLength(pushedByDevices + 1);
    const devicesInFile = new Set(lines.slice(1).map((line) => (JSON.parse(line) as { deviceId: string }).deviceId));
    expect(devicesInFile.size).toBe(2);
  });

  it('verifies offline with the auditor’s command and the operator’s key', async () => {
    const result = await run('npm', ['run', '--silent', 'audit:verify', '--', exportFile, '--key', verifierKey]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toMatchObject({
      ok: true,
      clinicId: serverClinicId,
      entries: pushedByDevices,
      devices: 2,
      keySource: 'argument',
    });
  }, 60_000);

  it('exits non-zero naming the first bad entry of a tampered file', async () => {
    const tampered = join(work, 'tampered.jsonl');
    writeFileSync(
      tampered,
      `${withLine(3, (entry) => ({ ...entry, body: String(entry.body).replace('"v":1', '"v":1 ') })).join('\n')}\n`,
    );
    const result = await run(process.execPath, [
      '--import',
      'tsx',
      'sync-server/audit-export/verify-export-cli.ts',
      tampered,
      '--key',
      verifierKey,
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout.trim())).toMatchObject({ ok: false, firstBad: { line: 4, leafIndex: 2 } });
  }, 60_000);
});

describe('offline verification refuses a tampered export', () => {
  it('accepts the untouched export with the key', () => {
    expect(verifyAuditExport(lines, verifierKey)).toMatchObject({ ok: true, entries: pushedByDevices });
  });

  it('refuses an edited body', () => {
    const verdict = verifyAuditExport(
      withLine(5, (entry) => {
        const body = JSON.parse(String(entry.body)) as Record<string, unknown>;
        return { ...entry, body: canonicalJson({ ...body, outcome: 'denied' } as CanonicalValue) };
      }),
      verifierKey,
    );
    expect(verdict).toMatchObject({ ok: false, firstBad: { line: 6, leafIndex: 4 } });
  });

  it('refuses a dropped entry', () => {
    const dropped = [...lines];
    dropped.splice(4, 1);
    expect(verifyAuditExport(dropped, verifierKey)).toMatchObject({ ok: false, firstBad: { line: 5, leafIndex: 4 } });
  });

  it('refuses reordered entries, even with their leaf indexes swapped back', () => {
    const swapped = [...lines];
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    expect(verifyAuditExport(swapped, verifierKey)).toMatchObject({ ok: false, firstBad: { line: 3 } });
    const relabelled = swapped.map((line, index) =>
      index === 2 || index === 3 ? JSON.stringify({ ...JSON.parse(line), leafIndex: index - 1 }) : line,
    );
    expect(verifyAuditExport(relabelled, verifierKey)).toMatchObject({ ok: false });
  });

  it('refuses a changed receipt time through the Merkle root', () => {
    const verdict = verifyAuditExport(
      withLine(7, (entry) => ({ ...entry, receivedAt: Number(entry.receivedAt) + 1 })),
      verifierKey,
    );
    expect(verdict).toEqual({
      ok: false,
      reason: 'the Merkle root over the entries differs from the signed checkpoint',
    });
  });

  it('refuses a checkpoint root swapped for another', () => {
    const verdict = verifyAuditExport(
      withLine(0, (header) => ({
        ...header,
        checkpoint: { ...(header.checkpoint as object), rootHash: encodeBase64(new Uint8Array(32).fill(7)) },
      })),
      verifierKey,
    );
    expect(verdict).toMatchObject({ ok: false, firstBad: { line: 1 } });
  });

  it('refuses a checkpoint that the given key did not sign', () => {
    const otherKeys = deriveServerKeys(Buffer.alloc(32, 9));
    const otherKey = formatEd25519VerifierKey(nodeSha256, otherKeys.checkpointKeyName, otherKeys.checkpointPublicKey);
    expect(verifyAuditExport(lines, otherKey)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('checkpoint'),
    });
  });
});
