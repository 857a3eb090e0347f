/**
 * Pruning the device outbox (main/core/sync/outbox-pruning.ts) with a real sync server over HTTP
 * on 127.0.0.1: changes the server accepted leave the outbox after the push; changes it has not
 * acknowledged, and changes it refused (which the conflicts inbox lists), stay; a crash between
 * the push and the prune loses nothing; and the database itself refuses to delete a change that
 * still has to be pushed.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { type TestCaller, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import { FAST_SYNC, type ListeningServer, operatorClinic, startListeningServer } from './sync-support.js';

let server: ListeningServer;
let clinic: TestClinic;
let dentist: TestCaller;
let serverClinicId: string;
let db: Database.Database;
/** Fault injection for the device's requests: replaced per test, the real fetch by default. */
let fault: FetchLike | null;

const deviceFetch: FetchLike = (url, init) => (fault ? fault(url, init) : fetch(url, init));

beforeEach(async () => {
  fault = null;
  server = await startListeningServer();
  clinic = await createTestClinic({
    sync: {
      ...FAST_SYNC,
      fetch: deviceFetch,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      sleep: async () => {},
    },
  });
  dentist = await clinic.signedInUser('Dentist', { allBranches: true });
  const created = await operatorClinic(server.storage);
  serverClinicId = created.clinicId;
  await clinic.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: created.code });
  db = await openRawDatabase(clinic.dataDir);
});
afterEach(async () => {
  db.close();
  await clinic.close();
  await server.close();
});

const outboxIds = () =>
  (db.prepare('SELECT change_id FROM sync_outbox ORDER BY change_id').pluck().all() as string[]).sort();
const serverChangeIds = async () => {
  const store = await server.storage.clinic(serverClinicId);
  return (await store.pullChanges({ after: 0, limit: 5000 })).changes.map((change) => change.changeId);
};

/** Creates a patient and records a medical history: two local transactions. */
async function recordWork(name: string): Promise<string> {
  const patient = await dentist.ok('patients.create', {
    branchId: clinic.branchId,
    firstName: name,
    lastName: 'Pruned',
  });
  await dentist.ok('patients.updateMedicalHistory', {
    patientId: patient.id,
    allergies: [{ substance: 'Latex', severity: 'severe' }],
    conditions: [],
    medications: [],
  });
  return patient.id;
}

describe('outbox pruning', () => {
  it('removes the changes the server accepted once the push is acknowledged', async () => {
    await recordWork('Ada');
    const queued = outboxIds();
    expect(queued.length).toBeGreaterThan(3);

    const round = await dentist.ok('sync.now', {});
    expect(round).toMatchObject({ ok: true, pushed: queued.length });
    expect(outboxIds()).toEqual([]);
    expect(await serverChangeIds()).toEqual(expect.arrayContaining(queued));
    expect(await clinic.admin.ok('sync.status', {})).toMatchObject({ pending: 0, refused: 0 });
  });

  it('keeps a change whose acknowledgement never arrived, and prunes it after the re-push', async () => {
    await clinic.asAdmin('sync.now', {});
    await recordWork('Grace');
    const queued = outboxIds();
    // The server stores the push, but every answer is lost on the way back.
    fault = async (url, init) => {
      const answer = await fetch(url, init);
      if (init.method === 'POST' && url.endsWith('/v1/changes')) throw new TypeError('connection reset');
      return answer;
    };
    expect(await dentist.ok('sync.now', {})).toMatchObject({ ok: false, error: 'NETWORK' });
    expect(outboxIds()).toEqual(queued);
    expect(await serverChangeIds()).toEqual(expect.arrayContaining(queued));

    fault = null;
    expect(await dentist.ok('sync.now', {})).toMatchObject({ ok: true, pushed: queued.length });
    expect(outboxIds()).toEqual([]);
  });

  it('keeps a refused change, which the conflicts inbox lists with its fields', async () => {
    await clinic.asAdmin('sync.now', {});
    const { id: patientId } = await dentist.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Refused',
      lastName: 'Pruned',
    });
    const refusedTx = (
      db.prepare('SELECT tx_id FROM sync_outbox WHERE row_id = ?').get(patientId) as {
        tx_id: string;
      }
    ).tx_id;
    fault = async (url, init) => {
      if (init.method === 'POST' && url.endsWith('/v1/changes') && String(init.body).includes(refusedTx)) {
        return new Response('{"error":{"code":"VALIDATION_FAILED","message":"x"}}', { status: 400 });
      }
      return fetch(url, init);
    };
    expect(await dentist.ok('sync.now', {})).toMatchObject({ ok: true, refused: 1 });
    const kept = db.prepare('SELECT tx_id FROM sync_outbox').pluck().all();
    expect(kept).toEqual([refusedTx]);
    const inbox = await dentist.ok('conflicts.list', {});
    expect(inbox.refused).toEqual([
      expect.objectContaining({ txId: refusedTx, rowId: patientId, fields: expect.arrayContaining(['first_name']) }),
    ]);
  });

  it('loses nothing when the device stops between the push and the prune', async () => {
    await clinic.asAdmin('sync.now', {});
    await recordWork('Interrupted');
    const queued = outboxIds();
    // The prune fails after the push committed its acknowledgement: what a crash at that point leaves.
    db.exec(`CREATE TRIGGER test_prune_crash BEFORE DELETE ON sync_outbox BEGIN SELECT RAISE(ABORT, 'crash'); END`);
    expect(await dentist.ok('sync.now', {})).toMatchObject({
      ok: false,
      error: 'LOCAL_FAILURE',
      pushed: queued.length,
    });
    expect(outboxIds()).toEqual(queued);
    expect(db.prepare('SELECT count(*) FROM sync_outbox WHERE pushed_at IS NULL').pluck().get()).toBe(0);

    db.exec('DROP TRIGGER test_prune_crash');
    await recordWork('Later');
    const laterIds = outboxIds().filter((id) => !queued.includes(id));
    // Only the new work is pushed: the acknowledged changes are not sent again, and they go now.
    expect(await dentist.ok('sync.now', {})).toMatchObject({ ok: true, pushed: laterIds.length });
    expect(outboxIds()).toEqual([]);
    const stored = await serverChangeIds();
    expect(stored).toEqual(expect.arrayContaining([...queued, ...laterIds]));
    expect(new Set(stored).size).toBe(stored.length);
  });

  it('refuses, in the database, to delete a change the server has not accepted', async () => {
    await recordWork('Guarded');
    expect(() => db.prepare('DELETE FROM sync_outbox WHERE pushed_at IS NULL').run()).toThrow(
      /sync_outbox rows are never deleted until the server accepted them/,
    );
    expect(outboxIds().length).toBeGreaterThan(0);
  });
});
