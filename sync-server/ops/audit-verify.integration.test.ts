import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

function cliVerify(dataDir: string, clinicId: string, extra: string[] = []) {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
  return spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'sync-server/cli/main.ts',
      'audit',
      'verify',
      '--clinic',
      clinicId,
      '--data-dir',
      dataDir,
      ...extra,
    ],
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
      sinceCheckpointSize: null,
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
    const storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey: db.masterKey });
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

/**
 * Issue #11 finding 5: someone with the database superuser's access cuts the tail off a clinic's
 * log and covers it up: the last entries, their leaves and every checkpoint over them deleted,
 * the device's chain head and the leaf counter set back. Steps 1-3 of `audit verify` then see a
 * consistent, smaller log; a checkpoint saved outside the server before the cut does not.
 */
const LEAVES_KEPT = 3;

/** SQLite: on the clinic file opened with its key, the append-only triggers dropped first. */
const SQLITE_TRUNCATION = `
  DROP TRIGGER audit_entries_no_delete;
  DROP TRIGGER audit_leaves_no_delete;
  DROP TRIGGER audit_checkpoints_no_delete;
  DROP TRIGGER audit_heads_only_advance;
  DROP TRIGGER counters_only_grow;
  DELETE FROM audit_entries WHERE leaf_index >= ${LEAVES_KEPT};
  DELETE FROM audit_leaves WHERE leaf_index >= ${LEAVES_KEPT};
  DELETE FROM audit_checkpoints WHERE tree_size > ${LEAVES_KEPT};
  UPDATE audit_heads SET
    head_seq = (SELECT max(seq) FROM audit_entries e WHERE e.device_id = audit_heads.device_id AND e.epoch = audit_heads.epoch),
    head_hash = (SELECT hash FROM audit_entries e WHERE e.device_id = audit_heads.device_id AND e.epoch = audit_heads.epoch
                 ORDER BY seq DESC LIMIT 1);
  UPDATE counters SET value = ${LEAVES_KEPT} WHERE counter = 'audit_leaves';
`;

/** PostgreSQL: as the superuser, with triggers off for the session (the test database holds one clinic). */
const POSTGRES_TRUNCATION = `
  SET session_replication_role = replica;
  DELETE FROM chairside.audit_entries WHERE leaf_index >= ${LEAVES_KEPT};
  DELETE FROM chairside.audit_leaves WHERE leaf_index >= ${LEAVES_KEPT};
  DELETE FROM chairside.audit_checkpoints WHERE tree_size > ${LEAVES_KEPT};
  UPDATE chairside.audit_heads h SET
    head_seq = (SELECT max(seq) FROM chairside.audit_entries e
                WHERE e.clinic_id = h.clinic_id AND e.device_id = h.device_id AND e.epoch = h.epoch),
    head_hash = (SELECT hash FROM chairside.audit_entries e
                 WHERE e.clinic_id = h.clinic_id AND e.device_id = h.device_id AND e.epoch = h.epoch
                 ORDER BY seq DESC LIMIT 1);
  UPDATE chairside.clinic_counters SET value = ${LEAVES_KEPT} WHERE counter = 'audit_leaves';
`;

/** A clinic with 5 leaves (pushes of 3 and 2) on either storage, the checkpoint a device saved, and the cut. */
async function clinicOn(kind: 'SQLite' | 'PostgreSQL') {
  const masterKey = randomBytes(32);
  const clock = new TestClock();
  const serverKeys = deriveServerKeys(masterKey);
  let storage;
  let truncate: () => Promise<void>;
  let cli: (extra: string[]) => SpawnSyncReturns<string>;
  let clinicIdOf: () => string = () => '';
  if (kind === 'SQLite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'chairside-audit-cut-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    writeMasterKeyFile(dataDir, masterKey);
    const keys = masterKeySource(masterKey);
    storage = await openSqliteSyncStorage({ dataDir, keys, clock });
    truncate = async () => {
      const clinicId = clinicIdOf();
      const db = openEncryptedDatabase(clinicFilePath(dataDir, clinicId), await keys.clinicKey(clinicId), {
        create: false,
      });
      try {
        db.exec(SQLITE_TRUNCATION);
      } finally {
        db.close();
      }
    };
    cli = (extra) => cliVerify(dataDir, clinicIdOf(), extra);
  } else {
    const db = await createTestDatabase();
    cleanup.push(() => db.drop());
    storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey });
    truncate = async () => {
      const superuser = new pg.Client(db.superuser);
      await superuser.connect();
      try {
        await superuser.query(POSTGRES_TRUNCATION);
      } finally {
        await superuser.end();
      }
    };
    cli = (extra) => {
      const { CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
      const url = String(db.app.connectionString);
      return spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'sync-server/cli/main.ts',
          'audit',
          'verify',
          '--clinic',
          clinicIdOf(),
          '--postgres',
          url,
          ...extra,
        ],
        { env: { ...env, CHAIRSIDE_SYNC_MASTER_KEY: masterKey.toString('hex') }, encoding: 'utf8' },
      );
    };
  }
  const opened = storage;
  cleanup.push(() => opened.close());
  const server = await startTestServer(opened, clock, { serverKeys });
  cleanup.push(() => server.app.close());
  const { clinicId, code } = await seedClinic(server, 'Smile Dental');
  clinicIdOf = () => clinicId;
  const device = new TestDevice(server, 'front-desk-1');
  expect((await device.enroll(code)).statusCode).toBe(200);
  const token = await device.token();
  for (const count of [3, 2]) {
    const pushed = await server.call('POST', '/v1/audit', { token, body: device.auditPush(device.chain.next(count)) });
    expect(pushed.statusCode).toBe(200);
  }
  // What a device pinned (or an Admin exported): the checkpoint route's answer, byte for byte.
  const served = await server.call('GET', '/v1/audit/checkpoint', { token });
  expect(served.json()).toMatchObject({ size: 5 });
  const savedDir = mkdtempSync(join(tmpdir(), 'chairside-saved-checkpoint-'));
  cleanup.push(() => rmSync(savedDir, { recursive: true, force: true }));
  const savedFile = join(savedDir, 'checkpoint.json');
  writeFileSync(savedFile, served.body);
  const savedNote = (served.json() as { note: string }).note;
  const key = { keyName: serverKeys.checkpointKeyName, publicKey: serverKeys.checkpointPublicKey };
  const verify = async (options: { sinceCheckpoint?: string } = {}) =>
    verifyClinicAuditLog(await opened.clinic(clinicId), key, nodeSha256, options);
  /** After the cut: a fresh server process (no log cached), or the same one, takes 3 new entries from another device. */
  const refillFromAnotherDevice = async ({ sameServer = false } = {}) => {
    const restarted = sameServer ? server : await startTestServer(opened, clock, { serverKeys });
    if (!sameServer) cleanup.push(() => restarted.app.close());
    const store = await opened.clinic(clinicId);
    const { code: second } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
    const other = new TestDevice(restarted, 'front-desk-2');
    expect((await other.enroll(second)).statusCode).toBe(200);
    const pushed = await restarted.call('POST', '/v1/audit', {
      token: await other.token(),
      body: other.auditPush(other.chain.next(3)),
    });
    expect(pushed.statusCode).toBe(200);
  };
  const events = async () =>
    (await (await opened.clinic(clinicId)).listSecurityEvents({ after: 0, limit: 100 })).events;
  return { clinicId, server, token, savedNote, savedFile, verify, truncate, cli, refillFromAnotherDevice, events };
}

for (const kind of ['SQLite', 'PostgreSQL'] as const) {
  describe(`audit verify --since-checkpoint (${kind})`, () => {
    it('passes an untouched log that extends the saved checkpoint', async () => {
      const clinic = await clinicOn(kind);
      expect(await clinic.verify({ sinceCheckpoint: clinic.savedNote })).toMatchObject({
        ok: true,
        logSize: 5,
        checkpointSize: 5,
        sinceCheckpointSize: 5,
        failures: [],
      });
    });

    it('cannot see a cut-off tail without a saved checkpoint: the log alone is self-consistent', async () => {
      const clinic = await clinicOn(kind);
      await clinic.truncate();
      // Why a checkpoint kept outside the server is needed: this is what `audit verify` said before.
      expect(await clinic.verify()).toMatchObject({ ok: true, logSize: LEAVES_KEPT, checkpointSize: LEAVES_KEPT });
    });

    it('finds a log whose tail a database superuser cut off, given the checkpoint saved before', async () => {
      const clinic = await clinicOn(kind);
      await clinic.truncate();
      const verdict = await clinic.verify({ sinceCheckpoint: clinic.savedNote });
      expect(verdict).toMatchObject({ ok: false, logSize: LEAVES_KEPT, sinceCheckpointSize: 5 });
      expect(verdict.failures).toEqual([
        `saved checkpoint covers 5 leaves but the log now holds ${LEAVES_KEPT} and its latest signed checkpoint ${LEAVES_KEPT}: entries the server once signed for were removed (truncated)`,
      ]);
    });

    it('finds a cut log grown past the saved size again: the saved leaves are no longer its prefix', async () => {
      const clinic = await clinicOn(kind);
      await clinic.truncate();
      await clinic.refillFromAnotherDevice();
      expect(await clinic.verify()).toMatchObject({ ok: true, logSize: LEAVES_KEPT + 3 });
      const verdict = await clinic.verify({ sinceCheckpoint: clinic.savedNote });
      expect(verdict.ok).toBe(false);
      expect(verdict.failures).toEqual([
        `saved checkpoint of 5 leaves is not a prefix of the log's latest signed checkpoint of ${LEAVES_KEPT + 3}: the first 5 leaves were rewritten (forked)`,
      ]);
    });

    it('reads the saved checkpoint file in the CLI and exits 1 on the cut log, 0 on the untouched one', async () => {
      const clinic = await clinicOn(kind);
      const before = clinic.cli(['--since-checkpoint', clinic.savedFile]);
      expect(before.stderr).toBe('');
      expect(before.status).toBe(0);
      expect(JSON.parse(before.stdout)).toMatchObject({ ok: true, sinceCheckpointSize: 5 });

      await clinic.truncate();
      const after = clinic.cli(['--since-checkpoint', clinic.savedFile]);
      expect(after.status).toBe(1);
      const verdict = JSON.parse(after.stdout) as { ok: boolean; failures: string[] };
      expect(verdict.ok).toBe(false);
      expect(verdict.failures).toEqual([expect.stringContaining('were removed (truncated)')]);
    });

    it('refuses a saved checkpoint the server key did not sign, and one from another clinic', async () => {
      const clinic = await clinicOn(kind);
      const other = await clinicOn(kind);
      const forged = await clinic.verify({ sinceCheckpoint: clinic.savedNote.replace(/\n— .*\n$/u, '\n') });
      expect(forged.ok).toBe(false);
      expect(forged.failures).toEqual([expect.stringMatching(/^saved checkpoint: /)]);
      const foreign = await clinic.verify({ sinceCheckpoint: other.savedNote });
      expect(foreign.ok).toBe(false);
      expect(foreign.failures).toEqual([expect.stringMatching(/^saved checkpoint: /)]);
    });
  });
}

for (const kind of ['SQLite', 'PostgreSQL'] as const) {
  describe(`the running server over a log cut back in the database (${kind})`, () => {
    it('records that its log shrank and serves the stored log, instead of failing every checkpoint', async () => {
      const clinic = await clinicOn(kind);
      await clinic.truncate();
      const served = await clinic.server.call('GET', '/v1/audit/checkpoint', { token: clinic.token });
      expect(served.statusCode).toBe(200);
      expect(served.json()).toMatchObject({ size: LEAVES_KEPT });
      expect(await clinic.events()).toEqual([
        expect.objectContaining({
          kind: 'audit.log_shrank',
          deviceId: null,
          details: { reason: 'fewer_leaves', servedSize: 5, storedSize: LEAVES_KEPT },
        }),
      ]);
      // Recorded once: the rebuilt log is what storage holds.
      await clinic.server.call('GET', '/v1/audit/checkpoint', { token: clinic.token });
      expect(await clinic.events()).toHaveLength(1);
    });

    it('rebuilds its log when the cut log grew past the size it served, signing the stored leaves', async () => {
      const clinic = await clinicOn(kind);
      await clinic.truncate();
      await clinic.refillFromAnotherDevice({ sameServer: true });
      expect((await clinic.events()).filter((event) => event.kind === 'audit.log_shrank')).toEqual([
        expect.objectContaining({ details: { reason: 'leaf_changed', servedSize: 5, storedSize: LEAVES_KEPT + 3 } }),
      ]);
      // The checkpoint signed after the refill is over the stored leaves, so the log verifies.
      expect(await clinic.verify()).toMatchObject({
        ok: true,
        logSize: LEAVES_KEPT + 3,
        checkpointSize: LEAVES_KEPT + 3,
      });
    });

    it("records a device's pinned checkpoint that the cut log no longer extends", async () => {
      const clinic = await clinicOn(kind);
      const report = { pinned: clinic.savedNote, refusal: null, refusedSize: null };
      const intact = await clinic.server.call('POST', '/v1/audit/pinned', { token: clinic.token, body: report });
      expect(intact.json()).toEqual({ logSize: 5, consistent: true, recorded: false });
      expect(await clinic.events()).toEqual([]);

      await clinic.truncate();
      const cut = await clinic.server.call('POST', '/v1/audit/pinned', { token: clinic.token, body: report });
      expect(cut.statusCode).toBe(200);
      expect(cut.json()).toEqual({ logSize: LEAVES_KEPT, consistent: false, recorded: true });
      expect((await clinic.events()).filter((event) => event.kind === 'audit.pin_beyond_log')).toEqual([
        expect.objectContaining({
          details: {
            reason: null,
            refusedSize: null,
            pinnedSize: 5,
            pinVerified: true,
            logSize: LEAVES_KEPT,
            consistent: false,
          },
        }),
      ]);
    });

    it("records a device's refusal even when its pin is not a note this server signed", async () => {
      const clinic = await clinicOn(kind);
      const answer = await clinic.server.call('POST', '/v1/audit/pinned', {
        token: clinic.token,
        body: { pinned: null, refusal: 'signature', refusedSize: 5 },
      });
      expect(answer.json()).toEqual({ logSize: 5, consistent: false, recorded: true });
      expect(await clinic.events()).toEqual([
        expect.objectContaining({
          kind: 'audit.log_refused_by_device',
          details: expect.objectContaining({ reason: 'signature', pinVerified: false, refusedSize: 5 }),
        }),
      ]);
    });
  });
}
