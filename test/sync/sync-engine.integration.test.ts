/**
 * The device sync engine against a real sync server over HTTP on 127.0.0.1 (SQLite storage):
 * connecting an existing clinic, two devices replicating patients and branches, concurrent
 * edits converging with the losing value kept, and an interrupted push retried without
 * duplicates. Device B is a second clinic database connected with a second code of the same
 * server clinic (a fresh device joining with setup.joinClinic: join-clinic.integration.test.ts).
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { ADMIN_PASSWORD, type TestCaller, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
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

let server: ListeningServer;
let a: TestClinic;
let b: SecondDevice;
let dentistA: TestCaller;
let serverClinicId: string;
/** Fault injection for device A's requests: replaced per test, the real fetch by default. */
let faultA: ((url: string, init: RequestInit) => Promise<Response>) | null;
/** Delays device A's engine waited between retries. */
const sleptA: number[] = [];
const cleanup: Array<() => Promise<void> | void> = [];

const fetchA: FetchLike = (url, init) => (faultA ? faultA(url, init) : fetch(url, init));

beforeEach(async () => {
  faultA = null;
  sleptA.length = 0;
  server = await startListeningServer();
  a = await createTestClinic({
    sync: {
      ...FAST_SYNC,
      fetch: fetchA,
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 250 },
      sleep: async (ms) => void sleptA.push(ms),
    },
  });
  b = await secondDevice('sync-device-b', 'Hill Road', FAST_SYNC);
  dentistA = await a.signedInUser('Dentist', { allBranches: true });
  ({ clinicId: serverClinicId } = await operatorClinic(server.storage).then(async (created) => {
    await a.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: created.code });
    return created;
  }));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await a.close();
  await b.close();
  await server.close();
});

async function connectB(): Promise<void> {
  await registerUsers(server.storage, serverClinicId, [{ userId: b.adminUserId, role: 'Admin' }]);
  await b.admin.ok('sync.connect', {
    serverUrl: server.url,
    enrollmentCode: await operatorCode(server.storage, serverClinicId),
  });
}

async function raw(dataDir: string): Promise<Database.Database> {
  const db = await openRawDatabase(dataDir);
  cleanup.push(() => {
    db.close();
  });
  return db;
}

const serverChanges = async () => {
  const store = await server.storage.clinic(serverClinicId);
  return (await store.pullChanges({ after: 0, limit: 1000 })).changes;
};

describe('sync.connect', () => {
  it('registers the device, keeps the key in the database and queues rows recorded before connecting', async () => {
    const db = await raw(a.dataDir);
    const identity = db.prepare('SELECT * FROM sync_identity').get() as Record<string, unknown>;
    const device = db.prepare('SELECT id FROM device').get() as { id: string };
    expect(identity).toMatchObject({ server_url: server.url, server_clinic_id: serverClinicId, device_id: device.id });
    expect((identity.public_key as Buffer).length).toBe(32);
    const store = await server.storage.clinic(serverClinicId);
    const registered = await store.getDevice(device.id);
    expect(Buffer.from(registered!.publicKey).equals(identity.public_key as Buffer)).toBe(true);
    // The branch made by clinic setup had no change record; connecting queued it.
    const queued = db.prepare('SELECT entity, op, user_id, row_id FROM sync_outbox ORDER BY hlc').all();
    expect(queued).toMatchObject([
      { entity: 'user', op: 'insert', user_id: a.adminUserId, row_id: a.adminUserId },
      { entity: 'user', op: 'insert', user_id: a.adminUserId },
      { entity: 'branch', op: 'insert', row_id: a.branchId },
    ]);
  });

  it('refuses a plain-http server that is not on this machine, a used code, and a second connection', async () => {
    expect(await a.admin.errorCode('sync.connect', { serverUrl: 'http://sync.example.com', enrollmentCode: 'X' })).toBe(
      'VALIDATION_FAILED',
    );
    const used = await operatorCode(server.storage, serverClinicId);
    await connectB();
    await b.admin.call('auth.reauthenticate', { password: 'Chairside-Op3n-Sesame' });
    expect(await b.admin.errorCode('sync.connect', { serverUrl: server.url, enrollmentCode: used })).toBe('CONFLICT');
    const other = await secondDevice('sync-device-c', 'Lake View', FAST_SYNC);
    cleanup.push(() => other.close());
    expect(
      await other.admin.errorCode('sync.connect', { serverUrl: server.url, enrollmentCode: 'AAAAA-AAAAA-AAAAA-AAAAA' }),
    ).toBe('VALIDATION_FAILED');
  });
});

describe('two devices of one clinic', () => {
  it('replicates what A recorded offline to B, where search finds it, and B’s branch back to A', async () => {
    const patient = await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Meera',
      lastName: 'Krishnan',
      phone: '98450 11111',
    });
    await dentistA.ok('patients.update', { patientId: patient.id, phone: '98450 22222' });
    await dentistA.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies: [{ substance: 'Latex', severity: 'moderate' }],
      conditions: [],
      medications: [],
    });
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ connected: true, online: false, pending: 6 });

    const roundA = await dentistA.ok('sync.now', {});
    expect(roundA).toMatchObject({ connected: true, ok: true, pushed: 6, refused: 0, error: null });
    await connectB();
    const roundB = await b.admin.ok('sync.now', {});
    // Applied: the branch, the patient's two changes, its medical history and A's Dentist (users
    // are applied since setup.joinClinic; A's Admin is not, B already has a user named admin).
    expect(roundB).toMatchObject({ ok: true, pushed: 2, refused: 0, applied: 5, conflicts: 0 });

    const found = await b.admin.ok('patients.search', { query: 'meer' });
    expect(found.results.map((result) => result.id)).toEqual([patient.id]);
    const fetched = await b.admin.ok('patients.get', { patientId: patient.id });
    expect(fetched).toMatchObject({ firstName: 'Meera', phone: '98450 22222', patientNumber: patient.patientNumber });
    expect((await b.admin.ok('patients.search', { query: '9845022222' })).results).toHaveLength(1);

    // Applied remote changes are not B's changes: nothing of A's is in B's outbox.
    const dbB = await raw(b.dataDir);
    expect(dbB.prepare('SELECT count(*) AS n FROM sync_outbox WHERE row_id = ?').get(patient.id)).toEqual({ n: 0 });
    const medical = dbB.prepare('SELECT allergies FROM patient_medical WHERE patient_id = ?').get(patient.id) as {
      allergies: string;
    };
    expect(JSON.parse(medical.allergies)).toMatchObject([{ substance: 'Latex' }]);

    await a.asAdmin('sync.now', {});
    const branches = await a.asAdmin('branches.list', {});
    expect(branches.branches.map((branch) => branch.name).sort()).toEqual(['Hill Road', 'Main Street']);
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ online: true, pending: 0, refused: 0, conflicts: 0 });

    const rounds = await a.asAdmin('audit.list', { action: 'sync.round' });
    expect(rounds.entries.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(rounds.entries)).not.toContain('Meera');
  });

  it('converges concurrent edits of one field on both devices and keeps the losing value in the conflict log', async () => {
    const patient = await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Ravi', lastName: 'Iyer' });
    await a.asAdmin('sync.now', {});
    await connectB();
    await b.admin.ok('sync.now', {});

    // Offline on both: A edits first, B a second later.
    a.clock.advance(1_000);
    b.clock.advance(2_000);
    await dentistA.ok('patients.update', { patientId: patient.id, phone: '90000 00001' });
    await b.admin.ok('patients.update', { patientId: patient.id, phone: '90000 00002' });

    for (let round = 0; round < 2; round++) {
      await a.asAdmin('sync.now', {});
      await b.admin.ok('sync.now', {});
    }
    const onA = await a.asAdmin('patients.get', { patientId: patient.id });
    const onB = await b.admin.ok('patients.get', { patientId: patient.id });
    expect(onA.phone).toBe(onB.phone);
    expect(onA.phone).toBe('90000 00002');
    expect((await b.admin.ok('patients.search', { query: '9000000002' })).results).toHaveLength(1);
    expect((await a.admin.ok('patients.search', { query: '9000000001' })).results).toHaveLength(0);

    for (const dataDir of [a.dataDir, b.dataDir]) {
      const db = await raw(dataDir);
      const conflicts = db.prepare('SELECT field, losing_value, winning_value FROM sync_conflicts').all();
      expect(conflicts).toEqual([{ field: 'phone', losing_value: '"90000 00001"', winning_value: '"90000 00002"' }]);
    }
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ conflicts: 1, pending: 0 });
    expect(await b.admin.ok('sync.status', {})).toMatchObject({ conflicts: 1, pending: 0 });
  });

  it('keeps two branches of one name created offline on two devices, without failing a round', async () => {
    await a.asAdmin('sync.now', {});
    await connectB();
    await b.admin.ok('sync.now', {});
    await b.admin.ok('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const onA = await a.asAdmin('branches.create', { name: 'North Wing' });
    const onB = await b.admin.ok('branches.create', { name: 'north wing' });

    for (let round = 0; round < 2; round++) {
      expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true, error: null });
      expect(await b.admin.ok('sync.now', {})).toMatchObject({ ok: true, error: null });
    }
    for (const branches of [
      (await a.asAdmin('branches.list', {})).branches,
      (await b.admin.ok('branches.list', {})).branches,
    ]) {
      expect(
        branches
          .filter((branch) => branch.name.toLowerCase() === 'north wing')
          .map((branch) => branch.id)
          .sort(),
      ).toEqual([onA.id, onB.id].sort());
    }
  });

  it('lets a later edit win everywhere even when it sets the value its own device already held', async () => {
    const patient = await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Nila',
      lastName: 'Das',
      phone: '90000 00001',
    });
    await a.asAdmin('sync.now', {});
    await connectB();
    await b.admin.ok('sync.now', {});

    // Offline on both: A changes the phone; a second later B, not having seen that, confirms the
    // phone it holds. B's write is the later one, so its value must win on A too.
    a.clock.advance(1_000);
    b.clock.advance(2_000);
    await dentistA.ok('patients.update', { patientId: patient.id, phone: '90000 00002' });
    await b.admin.ok('patients.update', { patientId: patient.id, phone: '90000 00001' });

    for (let round = 0; round < 2; round++) {
      await a.asAdmin('sync.now', {});
      await b.admin.ok('sync.now', {});
    }
    expect((await a.asAdmin('patients.get', { patientId: patient.id })).phone).toBe('90000 00001');
    expect((await b.admin.ok('patients.get', { patientId: patient.id })).phone).toBe('90000 00001');
  });
});

describe('pulling again', () => {
  it('leaves every row as it was when pages already applied are pulled again', async () => {
    const patient = await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Twice',
      lastName: 'Seen',
    });
    await a.asAdmin('sync.now', {});
    await connectB();
    b.clock.advance(1_000);
    await b.admin.ok('sync.now', {});
    await b.admin.ok('patients.update', { patientId: patient.id, phone: '90000 00003' });
    await dentistA.ok('patients.update', { patientId: patient.id, phone: '90000 00004' });
    await a.asAdmin('sync.now', {});
    await b.admin.ok('sync.now', {});
    const before = await b.admin.ok('patients.get', { patientId: patient.id });
    expect(before.phone).toBe('90000 00003');

    // A crash cannot cause this (a page commits with its cursor); a cursor set back can.
    const db = await raw(b.dataDir);
    db.prepare('UPDATE sync_identity SET pulled_cursor = 0').run();
    const again = await b.admin.ok('sync.now', {});
    expect(again).toMatchObject({ ok: true, pushed: 0 });
    expect(again.pulled).toBeGreaterThan(0);
    expect(await b.admin.ok('patients.get', { patientId: patient.id })).toEqual(before);
    expect((await b.admin.ok('patients.search', { query: 'twice' })).results).toHaveLength(1);
    // The insert's null phone, which B overwrote knowingly, now shows as a conflict entry: the HLCs
    // cannot tell that B had seen it (docs/sync-protocol.md, "Merge"). A third delivery adds nothing.
    const conflicts = (await b.admin.ok('sync.status', {})).conflicts;
    db.prepare('UPDATE sync_identity SET pulled_cursor = 0').run();
    expect(await b.admin.ok('sync.now', {})).toMatchObject({ ok: true, conflicts: 0 });
    expect(await b.admin.ok('sync.status', {})).toMatchObject({ conflicts, pending: 0 });
    expect(await b.admin.ok('patients.get', { patientId: patient.id })).toEqual(before);
  });
});

describe('failures', () => {
  it('retries a push whose answer was lost after the server stored it, without duplicates', async () => {
    const patient = await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Lost',
      lastName: 'Answer',
    });
    // The server stores the push, then the connection drops before the answer arrives.
    faultA = async (url, init) => {
      const response = await fetch(url, init);
      if (init.method === 'POST' && url.endsWith('/v1/changes')) throw new TypeError('fetch failed');
      return response;
    };
    const failed = await dentistA.ok('sync.now', {});
    expect(failed).toMatchObject({ ok: false, pushed: 0, error: 'NETWORK' });
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ pending: 4, lastError: 'NETWORK', online: false });
    expect(await serverChanges()).toHaveLength(4);

    faultA = null;
    const retried = await dentistA.ok('sync.now', {});
    expect(retried).toMatchObject({ ok: true, pushed: 4 });
    expect(await serverChanges()).toHaveLength(4);
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ pending: 0, online: true, lastError: null });

    await connectB();
    await b.admin.ok('sync.now', {});
    expect((await b.admin.ok('patients.search', { query: 'lost' })).results.map((r) => r.id)).toEqual([patient.id]);
  });

  it('keeps work pending while the server is down and pushes it once the server is back', async () => {
    await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Down', lastName: 'Time' });
    await server.stop();
    const failed = await dentistA.ok('sync.now', {});
    expect(failed).toMatchObject({ connected: true, ok: false, error: 'NETWORK' });
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ pending: 4, online: false });
    await server.restart();
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, pushed: 4 });
    expect(await serverChanges()).toHaveLength(4);
  });

  it('retries server errors and rate limits with exponential backoff and jitter, then goes on', async () => {
    await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Busy', lastName: 'Server' });
    let failures = 0;
    faultA = async (url, init) => {
      if (init.method === 'POST' && url.endsWith('/v1/changes') && failures < 2) {
        failures++;
        const status = failures === 1 ? 503 : 429;
        const code = status === 503 ? 'NOT_READY' : 'RATE_LIMITED';
        return new Response(JSON.stringify({ error: { code, message: 'later' } }), {
          status,
          headers: { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '1' } : {}) },
        });
      }
      return fetch(url, init);
    };
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, pushed: 4 });
    expect(sleptA).toHaveLength(2);
    expect(sleptA[0]).toBeLessThan(100); // full jitter under the first ceiling
    expect(sleptA[1]).toBe(1_000); // Retry-After outranks the backoff
  });

  it('gives up on a request after the last attempt and keeps the work pending', async () => {
    faultA = async () => new Response('{"error":{"code":"INTERNAL","message":"x"}}', { status: 500 });
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: false, error: 'INTERNAL' });
    expect(sleptA).toHaveLength(3);
    for (const [attempt, delay] of sleptA.entries()) expect(delay).toBeLessThan(Math.min(250, 100 * 2 ** attempt));
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ pending: 3, refused: 0, lastError: 'INTERNAL' });
  });

  it('records a batch the server refuses for good and does not let it block the queue', async () => {
    const patient = await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Bad', lastName: 'Batch' });
    const db = await raw(a.dataDir);
    const refusedTx = (
      db.prepare('SELECT tx_id FROM sync_outbox WHERE row_id = ?').get(patient.id) as { tx_id: string }
    ).tx_id;
    faultA = async (url, init) => {
      if (init.method === 'POST' && url.endsWith('/v1/changes') && String(init.body).includes(refusedTx)) {
        return new Response('{"error":{"code":"VALIDATION_FAILED","message":"x"}}', { status: 400 });
      }
      return fetch(url, init);
    };
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, pushed: 3, refused: 1 });
    expect(await a.admin.ok('sync.status', {})).toMatchObject({ pending: 0, refused: 1 });
    expect(db.prepare('SELECT tx_id, code FROM sync_refused').all()).toEqual([
      { tx_id: refusedTx, code: 'VALIDATION_FAILED' },
    ]);
    // A later change still goes through.
    await dentistA.ok('patients.update', { patientId: patient.id, phone: '91234 56789' });
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, pushed: 1, refused: 0 });
  });

  it('reports a clinic that is not connected without attempting anything', async () => {
    expect(await b.admin.ok('sync.now', {})).toMatchObject({ connected: false, ok: false, pushed: 0 });
    expect(await b.admin.ok('sync.status', {})).toMatchObject({ connected: false, online: false, pending: 0 });
  });
});
