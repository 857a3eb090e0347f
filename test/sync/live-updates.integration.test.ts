/**
 * Background sync and the live channel between two devices and a real sync server on 127.0.0.1
 * (docs/sync-protocol.md, "Background sync (built)"): nobody calls sync.now; a write on A reaches
 * B through A's debounced round, the server's live event and B's pull, and it still does after the
 * server went away and came back (A's round backs off and retries, B's stream reconnects and
 * resyncs).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SyncEngineOptions } from '../../main/core/sync/sync-engine.js';
import { type TestCaller, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import {
  FAST_SYNC,
  type ListeningServer,
  type SecondDevice,
  operatorClinic,
  operatorCode,
  registerUsers,
  secondDevice,
  startListeningServer,
} from './sync-support.js';

/** Background sync tuned for a test: short debounce and backoffs, no timer round within the test. */
const BACKGROUND: SyncEngineOptions = {
  ...FAST_SYNC,
  background: {
    debounceMs: 5,
    intervalMs: 10 * 60_000,
    roundBackoff: { baseMs: 20, maxMs: 100 },
    liveBackoff: { baseMs: 20, maxMs: 100 },
  },
};

let server: ListeningServer;
let a: TestClinic;
let b: SecondDevice;
let dentistA: TestCaller;

beforeEach(async () => {
  server = await startListeningServer();
  a = await createTestClinic({ sync: BACKGROUND });
  b = await secondDevice('live-device-b', 'Hill Road', BACKGROUND);
  dentistA = await a.signedInUser('Dentist', { allBranches: true });
  const { clinicId, code } = await operatorClinic(server.storage);
  await a.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: code });
  // A's background round uploads its founder first; only then may the directory learn B's Admin.
  await expect.poll(async () => (await a.admin.ok('sync.status', {})).pending, { timeout: 5_000 }).toBe(0);
  await registerUsers(server.storage, clinicId, [{ userId: b.adminUserId, role: 'Admin' }]);
  await b.admin.ok('sync.connect', {
    serverUrl: server.url,
    enrollmentCode: await operatorCode(server.storage, clinicId),
  });
  // Both devices finished their first background round (A uploaded its users and branch).
  await expect.poll(async () => (await b.admin.ok('branches.list', {})).branches.length, { timeout: 5_000 }).toBe(2);
});
afterEach(async () => {
  await a.close();
  await b.close();
  await server.close();
});

async function arrivesOnB(firstName: string): Promise<void> {
  await expect
    .poll(async () => (await b.admin.ok('patients.search', { query: firstName })).results.length, { timeout: 5_000 })
    .toBe(1);
}

describe('background sync with the live channel', () => {
  it('brings a write on A to B without anyone asking for a round', async () => {
    await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Meera',
      lastName: 'K',
      phone: '98450 11111',
    });
    await arrivesOnB('meera');
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ pending: 0, online: true });
  });

  it('recovers after the server was away: A retries its push, B reconnects and resyncs', async () => {
    await server.stop();
    await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Ravi',
      lastName: 'S',
      phone: '98450 22222',
    });
    // A's debounced round fails while the server is down; the write stays pending.
    await expect.poll(async () => (await a.admin.ok('sync.status', {})).lastError, { timeout: 5_000 }).not.toBeNull();
    expect((await a.admin.ok('sync.status', {})).pending).toBeGreaterThan(0);
    await server.restart();
    await arrivesOnB('ravi');
    expect((await a.admin.ok('sync.status', {})).pending).toBe(0);
  });
});
