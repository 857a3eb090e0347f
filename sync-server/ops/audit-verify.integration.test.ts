import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveServerKeys } from '../auth/server-keys.js';
import { writeMasterKeyFile } from '../cli/master-key.js';
import { TestDevice, seedClinic, startTestServer } from '../../test/support/sync-server/test-support.js';
import { TestClock } from '../../test/support/sync-server/conformance-fixtures.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { createTestDatabase } from '../../test/support/sync-server/test-database.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openEncryptedDatabase } from '../storage/sqlite/open-database.js';
import { clinicFilePath, openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import { verifyClinicAuditLog } from './audit-verify.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A clinic whose one device pushed 3 then 2 audit entries (a signed checkpoint after each push). */
async function clinicWithAuditLog() {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-audit-verify-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const masterKey = randomBytes(32);
  writeMasterKeyFile(dataDir, masterKey);
  const clock = new TestClock();
  const keys = masterKeySource(masterKey);
  const storage = await openSqliteSyncStorage({ dataDir, keys, clock });
  cleanup.push(() => storage.close());
  const serverKeys = deriveServerKeys(masterKey);
  const server = await startTestServer(storage, clock, { serverKeys });
  cleanup.push(() => server.app.close());
  const { clinicId, code } = await seedClinic(server, 'Smile Dental');
  const device = new TestDevice(server, 'front-desk-1');
  expect((await device.enroll(code)).statusCode).toBe(200);
  const token = await device.token();
  for (const count of [3, 2]) {
    const pushed = await server.call('POST', '/v1/audit', { token, body: device.auditPush(device.chain.next(count)) });
    expect(pushed.statusCode).toBe(200);
  }
  const verifierKey = { keyName: serverKeys.checkpointKeyName, publicKey: serverKeys.checkpointPublicKey };
  /** Runs raw SQL on the clinic's file, as someone holding the key and the disk could. */
  const tamper = async (sql: string) => {
    const db = openEncryptedDatabase(clinicFilePath(dataDir, clinicId), await keys.clinicKey(clinicId), {
      create: false,
    });
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };
  const verifyWith = async (key: typeof verifierKey) =>
    verifyClinicAuditLog(await storage.clinic(clinicId), key, nodeSha256);
  const verify = () => verifyWith(verifierKey);
  return { dataDir, clinicId, verify, verifyWith, tamper };
}

function cliVerify(dataDir: string, clinicId: string) {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', 'sync-server/cli/main.ts', 'audit', 'verify', '--clinic', clinicId, '--data-dir', dataDir],
    { env, encoding: 'utf8' },
  );
}

describe('audit verify', () => {
  it('accepts an untouched log: every chain, every leaf, and the signed checkpoint', async () => {
    const clinic = await clinicWithAuditLog();
    expect(await clinic.verify()).toEqual({
      ok: true,
      clinicId: clinic.clinicId,
      logSize: 5,
      entries: 5,
      chains: 1,
      checkpointSize: 5,
      failures: [],
    });
  });

  it('finds an entry whose stored body was edited, and the CLI exits non-zero with the verdict', async () => {
    const clinic = await clinicWithAuditLog();
    await clinic.tamper(`
      DROP TRIGGER audit_entries_no_update;
      UPDATE audit_entries SET body = replace(body, '"outcome":"success"', '"outcome":"denied"') WHERE seq = 2;
    `);
    const verdict = await clinic.verify();
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toContainEqual(expect.stringContaining('breaks at seq 2: hash does not match'));

    const cli = cliVerify(clinic.dataDir, clinic.clinicId);
    expect(cli.status).toBe(1);
    const line = JSON.parse(cli.stdout) as { ok: boolean; failures: string[] };
    expect(line.ok).toBe(false);
    expect(line.failures.length).toBeGreaterThan(0);
  });

  it('finds a log cut back below its signed checkpoint', async () => {
    const clinic = await clinicWithAuditLog();
    await clinic.tamper(`
      DROP TRIGGER audit_entries_no_delete;
      DROP TRIGGER audit_leaves_no_delete;
      DELETE FROM audit_entries WHERE seq = 5;
      DELETE FROM audit_leaves WHERE leaf_index = 4;
    `);
    const verdict = await clinic.verify();
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toEqual(
      expect.arrayContaining([
        expect.stringContaining('truncated'),
        expect.stringContaining('latest checkpoint covers 5 leaves but the log has 4'),
      ]),
    );
  });

  it('finds a leaf hash replaced in the Merkle log', async () => {
    const clinic = await clinicWithAuditLog();
    await clinic.tamper(`
      DROP TRIGGER audit_leaves_no_update;
      UPDATE audit_leaves SET leaf_hash = zeroblob(32) WHERE leaf_index = 1;
    `);
    const verdict = await clinic.verify();
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toEqual(
      expect.arrayContaining([
        expect.stringContaining('leaf 1: stored leaf hash does not match its entry'),
        expect.stringContaining('its root differs from the root of the stored leaves'),
      ]),
    );
  });

  it('refuses a checkpoint that the expected server key did not sign', async () => {
    const clinic = await clinicWithAuditLog();
    const otherKeys = deriveServerKeys(randomBytes(32));
    const verdict = await clinic.verifyWith({
      keyName: otherKeys.checkpointKeyName,
      publicKey: otherKeys.checkpointPublicKey,
    });
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toEqual([expect.stringMatching(/^latest checkpoint: /)]);
  });
});

describe('audit verify on PostgreSQL', () => {
  it('accepts an untouched log and finds an entry the database owner edited', async () => {
    const db = await createTestDatabase();
    cleanup.push(() => db.drop());
    const clock = new TestClock();
    const storage = await openPostgresSyncStorage({ connection: db.app, clock });
    cleanup.push(() => storage.close());
    const serverKeys = deriveServerKeys(randomBytes(32));
    const server = await startTestServer(storage, clock, { serverKeys });
    cleanup.push(() => server.app.close());
    const { clinicId, code } = await seedClinic(server, 'Smile Dental');
    const device = new TestDevice(server, 'front-desk-1');
    expect((await device.enroll(code)).statusCode).toBe(200);
    const token = await device.token();
    for (const count of [2, 2]) {
      const pushed = await server.call('POST', '/v1/audit', {
        token,
        body: device.auditPush(device.chain.next(count)),
      });
      expect(pushed.statusCode).toBe(200);
    }
    const key = { keyName: serverKeys.checkpointKeyName, publicKey: serverKeys.checkpointPublicKey };
    const verify = async () => verifyClinicAuditLog(await storage.clinic(clinicId), key, nodeSha256);
    expect(await verify()).toMatchObject({ ok: true, logSize: 4, entries: 4, checkpointSize: 4 });

    // The app role may not UPDATE the log; someone with the superuser's access can, and is caught.
    const superuser = new pg.Client(db.superuser);
    await superuser.connect();
    try {
      await superuser.query(
        `UPDATE chairside.audit_entries SET body = replace(body, '"outcome":"success"', '"outcome":"error"') WHERE seq = 3`,
      );
    } finally {
      await superuser.end();
    }
    const verdict = await verify();
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toContainEqual(expect.stringContaining('breaks at seq 3: hash does not match'));
  });
});
