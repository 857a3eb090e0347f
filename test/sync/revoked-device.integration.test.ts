/**
 * A device revoked on the sync server locks itself on its next contact (docs/sync-protocol.md,
 * "Revoked device lock (built)"), against a real server on 127.0.0.1: every session ends,
 * sign-in is refused with DEVICE_REVOKED, no further request reaches the server, the lock is in
 * the audit trail, and every row stays in the encrypted database.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SyncEngineOptions } from '../../main/core/sync/sync-engine.js';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { ADMIN_PASSWORD, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import { FAST_SYNC, type ListeningServer, operatorClinic, startListeningServer } from './sync-support.js';

let server: ListeningServer;
let serverClinicId: string;
const cleanup: Array<() => Promise<void> | void> = [];
/** Paths of every request device A sent to the server. */
const requests: string[] = [];
const countingFetch: FetchLike = (url, init) => {
  requests.push(new URL(url).pathname);
  return fetch(url, init);
};

beforeEach(async () => {
  requests.length = 0;
  server = await startListeningServer();
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await server.close();
});

/** A clinic connected to the server, with a patient synced. */
async function connectedClinic(sync: SyncEngineOptions): Promise<{ clinic: TestClinic; patientId: string }> {
  const clinic = await createTestClinic({ sync: { ...sync, fetch: countingFetch } });
  cleanup.push(() => clinic.close());
  const created = await operatorClinic(server.storage);
  serverClinicId = created.clinicId;
  await clinic.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: created.code });
  const patient = await clinic.asAdmin('patients.create', {
    branchId: clinic.branchId,
    firstName: 'Meera',
    lastName: 'Krishnan',
    phone: '98450 11111',
  });
  return { clinic, patientId: patient.id };
}

async function revokeOnServer(dataDir: string): Promise<void> {
  const db = await raw(dataDir);
  const { device_id: deviceId } = db.prepare('SELECT device_id FROM sync_identity').get() as { device_id: string };
  const store = await server.storage.clinic(serverClinicId);
  await store.revokeDevice({ deviceId, reason: 'Laptop stolen' });
}

async function raw(dataDir: string): Promise<Database.Database> {
  const db = await openRawDatabase(dataDir);
  cleanup.push(() => void db.close());
  return db;
}

/** What must hold once the device locked itself. */
async function expectLocked(clinic: TestClinic, patientId: string): Promise<void> {
  // Every session ended: the Admin's calls now need a sign-in.
  expect(await clinic.admin.errorCode('patients.search', { query: 'meera' })).toBe('UNAUTHENTICATED');
  const signIn = await clinic.admin.call('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
  expect(signIn.ok).toBe(false);
  if (!signIn.ok) {
    expect(signIn.error.code).toBe('DEVICE_REVOKED');
    expect(signIn.error.message).toMatch(/removed from the clinic by an administrator/);
  }
  const db = await raw(clinic.dataDir);
  expect(db.prepare('SELECT count(*) AS n FROM sync_revocation').get()).toEqual({ n: 1 });
  const bodies = (db.prepare('SELECT body FROM audit_log ORDER BY id').all() as Array<{ body: string }>).map(
    (row) => JSON.parse(row.body) as { action: string; outcome: string },
  );
  expect(bodies.filter((body) => body.action === 'sync.deviceRevoked')).toHaveLength(1);
  expect(bodies.at(-1)).toMatchObject({ action: 'auth.signIn', outcome: 'denied' });
  // Nothing deleted: the patient is still in the encrypted database.
  expect(db.prepare('SELECT id FROM patients').all()).toEqual([{ id: patientId }]);
}

describe('a revoked device', () => {
  it('locks itself on its next round: sessions end, sign-in is refused, the lock is audited, data stays', async () => {
    const { clinic, patientId } = await connectedClinic(FAST_SYNC);
    expect(await clinic.asAdmin('sync.now', {})).toMatchObject({ ok: true });
    await revokeOnServer(clinic.dataDir);

    const round = await clinic.admin.call('sync.now', {});
    // The round's answer is DEVICE_REVOKED; its caller's session ended with it.
    if (round.ok) expect(round.output).toMatchObject({ ok: false, error: 'DEVICE_REVOKED' });
    await expectLocked(clinic, patientId);
  });

  it('contacts the server no more once it knows', async () => {
    const { clinic } = await connectedClinic(FAST_SYNC);
    await revokeOnServer(clinic.dataDir);
    await clinic.admin.call('sync.now', {});
    const before = requests.length;
    expect(before).toBeGreaterThan(0);
    // The signed-out device still runs the pipeline; a round asked for by anyone does nothing.
    await clinic.admin.call('sync.now', {});
    await clinic.admin.call('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    expect(requests.length).toBe(before);
  });

  it('locks itself in the background, with nobody asking for a round', async () => {
    const { clinic, patientId } = await connectedClinic({
      ...FAST_SYNC,
      background: { debounceMs: 5, intervalMs: 50, liveBackoff: { baseMs: 10, maxMs: 20 } },
    });
    await expect.poll(() => requests.filter((path) => path === '/v1/changes/live').length).toBeGreaterThan(0);
    await revokeOnServer(clinic.dataDir);
    await expect
      .poll(async () => (await raw(clinic.dataDir)).prepare('SELECT count(*) AS n FROM sync_revocation').get(), {
        timeout: 5_000,
      })
      .toEqual({ n: 1 });
    await expectLocked(clinic, patientId);
  });

  it('locks itself when the live channel refuses to reopen for it', async () => {
    const { clinic, patientId } = await connectedClinic({
      ...FAST_SYNC,
      // No timer round within the test: only the live stream can learn it.
      background: { debounceMs: 5, intervalMs: 10 * 60_000, liveBackoff: { baseMs: 10, maxMs: 20 } },
    });
    await expect.poll(() => requests.filter((path) => path === '/v1/changes/live').length).toBeGreaterThan(0);
    // The background rounds after connecting and after the write are over: nothing pending, no request for a while.
    await expect
      .poll(async () => {
        const before = requests.length;
        await new Promise((resolve) => setTimeout(resolve, 150));
        const pending = (await raw(clinic.dataDir))
          .prepare('SELECT count(*) AS n FROM sync_outbox WHERE pushed_at IS NULL')
          .get() as { n: number };
        return pending.n === 0 && requests.length === before;
      })
      .toBe(true);
    await revokeOnServer(clinic.dataDir);
    // The server restarting ends the stream; reopening it is refused with DEVICE_REVOKED.
    await server.stop();
    await server.restart();
    await expect
      .poll(async () => (await raw(clinic.dataDir)).prepare('SELECT count(*) AS n FROM sync_revocation').get(), {
        timeout: 5_000,
      })
      .toEqual({ n: 1 });
    const db = await raw(clinic.dataDir);
    const lock = (db.prepare('SELECT body FROM audit_log ORDER BY id').all() as Array<{ body: string }>)
      .map((row) => JSON.parse(row.body) as { action: string; details: Record<string, unknown> })
      .find((body) => body.action === 'sync.deviceRevoked');
    expect(lock?.details).toEqual({ source: 'live' });
    expect(db.prepare('SELECT last_error FROM sync_identity').get()).toEqual({ last_error: 'DEVICE_REVOKED' });
    await expectLocked(clinic, patientId);
  });
});
