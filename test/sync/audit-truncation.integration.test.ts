/**
 * Issue #11, finding 5, end to end: two devices of a clinic (A connected with an operator code, B
 * joined it) have pinned the server's checkpoints; then someone with the database superuser's
 * access cuts the tail off the clinic's consolidated audit log while the server keeps running
 * (the last entries, their leaves and checkpoints deleted, chain heads and the leaf counter set
 * back). On both storages each device must raise it as a security event, stored and audited,
 * named in sync.status in words (never INTERNAL), and the server must record it too.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../main/core/platform/sources.js';
import { deriveServerKeys } from '../../sync-server/auth/server-keys.js';
import { openPostgresSyncStorage } from '../../sync-server/storage/postgres/postgres-storage.js';
import { masterKeySource } from '../../sync-server/storage/sqlite/key-source.js';
import { openEncryptedDatabase } from '../../sync-server/storage/sqlite/open-database.js';
import { clinicFilePath, openSqliteSyncStorage } from '../../sync-server/storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../../sync-server/storage/storage.js';
import { TestClock } from '../support/sync-server/conformance-fixtures.js';
import { createTestDatabase } from '../support/sync-server/test-database.js';
import { startTestServer } from '../support/sync-server/test-support.js';
import { type AuditDevices, connectAuditDevices, localChain, withRawDatabase } from './audit-devices.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Leaves the cut takes off the end of the log. */
const LEAVES_CUT = 4;

function sqliteCut(keep: number): string {
  return `
    DROP TRIGGER audit_entries_no_delete;
    DROP TRIGGER audit_leaves_no_delete;
    DROP TRIGGER audit_checkpoints_no_delete;
    DROP TRIGGER audit_heads_only_advance;
    DROP TRIGGER audit_heads_kept;
    DROP TRIGGER counters_only_grow;
    DELETE FROM audit_entries WHERE leaf_index >= ${keep};
    DELETE FROM audit_leaves WHERE leaf_index >= ${keep};
    DELETE FROM audit_checkpoints WHERE tree_size > ${keep};
    DELETE FROM audit_heads WHERE NOT EXISTS (SELECT 1 FROM audit_entries e
      WHERE e.device_id = audit_heads.device_id AND e.epoch = audit_heads.epoch);
    UPDATE audit_heads SET
      head_seq = (SELECT max(seq) FROM audit_entries e WHERE e.device_id = audit_heads.device_id AND e.epoch = audit_heads.epoch),
      head_hash = (SELECT hash FROM audit_entries e WHERE e.device_id = audit_heads.device_id AND e.epoch = audit_heads.epoch
                   ORDER BY seq DESC LIMIT 1);
    UPDATE counters SET value = ${keep} WHERE counter = 'audit_leaves';
  `;
}

function postgresCut(keep: number): string {
  return `
    SET session_replication_role = replica;
    DELETE FROM chairside.audit_entries WHERE leaf_index >= ${keep};
    DELETE FROM chairside.audit_leaves WHERE leaf_index >= ${keep};
    DELETE FROM chairside.audit_checkpoints WHERE tree_size > ${keep};
    DELETE FROM chairside.audit_heads h WHERE NOT EXISTS (SELECT 1 FROM chairside.audit_entries e
      WHERE e.clinic_id = h.clinic_id AND e.device_id = h.device_id AND e.epoch = h.epoch);
    UPDATE chairside.audit_heads h SET
      head_seq = (SELECT max(seq) FROM chairside.audit_entries e
                  WHERE e.clinic_id = h.clinic_id AND e.device_id = h.device_id AND e.epoch = h.epoch),
      head_hash = (SELECT hash FROM chairside.audit_entries e
                   WHERE e.clinic_id = h.clinic_id AND e.device_id = h.device_id AND e.epoch = h.epoch
                   ORDER BY seq DESC LIMIT 1);
    UPDATE chairside.clinic_counters SET value = ${keep} WHERE counter = 'audit_leaves';
  `;
}

/** A listening server on either storage, and the database superuser's cut of one clinic's log. */
async function serverOn(kind: 'SQLite' | 'PostgreSQL') {
  const masterKey = randomBytes(32);
  const clock = new TestClock(new ManualClock().now());
  let storage: SyncStorage;
  let cut: (clinicId: string, keep: number) => Promise<void>;
  if (kind === 'SQLite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'chairside-audit-truncation-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const keys = masterKeySource(masterKey);
    storage = await openSqliteSyncStorage({ dataDir, keys, clock });
    cut = async (clinicId, keep) => {
      const db = openEncryptedDatabase(clinicFilePath(dataDir, clinicId), await keys.clinicKey(clinicId), {
        create: false,
      });
      try {
        db.exec(sqliteCut(keep));
      } finally {
        db.close();
      }
    };
  } else {
    const db = await createTestDatabase();
    cleanup.push(() => db.drop());
    storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey });
    cut = async (_clinicId, keep) => {
      const superuser = new pg.Client(db.superuser);
      await superuser.connect();
      try {
        await superuser.query(postgresCut(keep));
      } finally {
        await superuser.end();
      }
    };
  }
  const opened = storage;
  cleanup.push(() => opened.close());
  const server = await startTestServer(opened, clock, { serverKeys: deriveServerKeys(masterKey) });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  cleanup.push(() => server.app.close());
  const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  return { url, storage: opened, cut };
}

async function securityEvents(storage: SyncStorage, clinicId: string) {
  return (await (await storage.clinic(clinicId)).listSecurityEvents({ after: 0, limit: 1000 })).events;
}

/** What a device stored about the refusal: its pin's state, its audit entries, its own chain's state. */
async function deviceRecord(dataDir: string) {
  return withRawDatabase(dataDir, (db) => ({
    refused: db.prepare('SELECT refused_reason FROM sync_checkpoint').get(),
    entries: (
      db.prepare("SELECT body FROM audit_log WHERE action = 'sync.serverLogRefused'").all() as Array<{ body: string }>
    ).map((row) => JSON.parse(row.body) as { outcome: string; purpose: string; details: Record<string, unknown> }),
    chainRefusals: db.prepare('SELECT count(*) AS n FROM sync_audit_push WHERE refused_code IS NOT NULL').get(),
  }));
}

for (const kind of ['SQLite', 'PostgreSQL'] as const) {
  describe(`a consolidated audit log cut back in the database (${kind})`, () => {
    let devices: AuditDevices;

    async function pinnedOnBoth(storage: SyncStorage, serverClinicId: string): Promise<number> {
      expect((await devices.a.asAdmin('sync.now', {})).error).toBeNull();
      await devices.b.admin.ok('sync.now', {});
      expect((await devices.a.asAdmin('sync.now', {})).error).toBeNull();
      const size = await (await storage.clinic(serverClinicId)).auditLogSize();
      expect(size).toBeGreaterThan(LEAVES_CUT + 2);
      return size;
    }

    it('becomes a security event on every device, in words, and on the server; never INTERNAL', async () => {
      const server = await serverOn(kind);
      devices = await connectAuditDevices(server);
      cleanup.push(() => devices.close());
      const { serverClinicId } = devices;
      const size = await pinnedOnBoth(server.storage, serverClinicId);
      const pinnedA = (await withRawDatabase(devices.a.dataDir, (db) =>
        db.prepare('SELECT size FROM sync_checkpoint').get(),
      )) as { size: number };
      expect(pinnedA.size).toBe(size);

      await server.cut(serverClinicId, size - LEAVES_CUT);

      const roundA = await devices.a.asAdmin('sync.now', {});
      expect(roundA.error).toBe('SERVER_LOG_LOST_ENTRIES');
      expect((await devices.a.asAdmin('sync.status', {})).lastError).toBe('SERVER_LOG_LOST_ENTRIES');
      const roundB = await devices.b.admin.ok('sync.now', {});
      expect(roundB.error).toBe('SERVER_LOG_LOST_ENTRIES');
      expect((await devices.b.admin.ok('sync.status', {})).lastError).toBe('SERVER_LOG_LOST_ENTRIES');

      // Each device stored the refusal and audited it as a security event; neither blamed its own chain.
      for (const dataDir of [devices.a.dataDir, devices.b.dataDir]) {
        const recorded = await deviceRecord(dataDir);
        expect(recorded.refused).toEqual({ refused_reason: 'rollback' });
        expect(recorded.entries).toHaveLength(1);
        expect(recorded.entries[0]).toMatchObject({
          outcome: 'error',
          purpose: 'security',
          details: { reason: 'rollback', lostEntries: true, size: size - LEAVES_CUT },
        });
        expect(recorded.chainRefusals).toEqual({ n: 0 });
      }

      // The server noticed its own log shrank under it, and recorded each device's report.
      const events = await securityEvents(server.storage, serverClinicId);
      expect(events.filter((event) => event.kind === 'audit.log_shrank')).toEqual([
        expect.objectContaining({
          details: { reason: 'fewer_leaves', servedSize: expect.any(Number), storedSize: size - LEAVES_CUT },
        }),
      ]);
      const reports = events.filter((event) => event.kind === 'audit.log_refused_by_device');
      const { deviceId: deviceA } = await localChain(devices.a.dataDir);
      const { deviceId: deviceB } = await localChain(devices.b.dataDir);
      expect(reports.map((event) => event.deviceId).sort()).toEqual([deviceA, deviceB].sort());
      for (const report of reports) {
        expect(report.details).toMatchObject({
          reason: 'rollback',
          pinVerified: true,
          consistent: false,
          logSize: size - LEAVES_CUT,
        });
        expect(report.details.pinnedSize).toBeGreaterThan(size - LEAVES_CUT);
      }
      // (The server also records each device's next push as a gap: from its cut log's view, it is one.)

      // The refusal holds: the next round stops before talking to the server, with the same words.
      expect((await devices.a.asAdmin('sync.now', {})).error).toBe('SERVER_LOG_LOST_ENTRIES');
    });

    it('reports the pinned checkpoint each round, which the server finds consistent and records nothing', async () => {
      const server = await serverOn(kind);
      devices = await connectAuditDevices(server);
      cleanup.push(() => devices.close());
      const reported: string[] = [];
      devices.aFetch.fault = async (url, init) => {
        if (url.endsWith('/v1/audit/pinned')) reported.push(String(init.body));
        return fetch(url, init);
      };
      await pinnedOnBoth(server.storage, devices.serverClinicId);
      expect(reported.length).toBeGreaterThan(0);
      const last = JSON.parse(reported.at(-1)!) as { pinned: string; refusal: null };
      const pin = (await withRawDatabase(devices.a.dataDir, (db) =>
        db.prepare('SELECT note FROM sync_checkpoint').get(),
      )) as { note: string };
      expect(last).toEqual({ pinned: pin.note, refusal: null, refusedSize: null });
      const kinds = (await securityEvents(server.storage, devices.serverClinicId)).map((event) => event.kind);
      expect(kinds.filter((kind) => kind.startsWith('audit.'))).toEqual([]);
    });
  });
}
