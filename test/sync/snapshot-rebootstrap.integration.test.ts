/**
 * Snapshot bootstrap through a real sync server (docs/sync-protocol.md, "Snapshot bootstrap"):
 * a device whose database is restored from a backup older than the compaction horizon rejoins
 * by itself, from a snapshot merged into the database it holds; the changes it had pushed after
 * the backup come back to it, and what it wrote offline on the restored copy reaches the others.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClinicCore } from '../../main/core/clinic-core.js';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import { openPostgresSyncStorage } from '../../sync-server/storage/postgres/postgres-storage.js';
import { REPLICATED_ENTITIES } from '../../shared/sync/change.js';
import { TestCaller, type TestClinic, USER_PASSWORD, testKeyProvider } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import { TestClock } from '../support/sync-server/conformance-fixtures.js';
import { createTestDatabase } from '../support/sync-server/test-database.js';
import { startTestServer } from '../support/sync-server/test-support.js';
import {
  FAST_SYNC,
  type JoinedDevice,
  type ListeningServer,
  connectFoundingClinic,
  joinFounderClinic,
  startListeningServer,
} from './sync-support.js';

let server: ListeningServer;
let a: TestClinic;
let dentistA: TestCaller;
let serverClinicId: string;
const cleanup: Array<() => Promise<void> | void> = [];

/** The same listening server as startListeningServer, over a throwaway PostgreSQL database. */
async function startPostgresListeningServer(): Promise<ListeningServer> {
  const database = await createTestDatabase();
  const clock = new TestClock(new ManualClock().now());
  const storage = await openPostgresSyncStorage({ connection: database.app, clock, masterKey: database.masterKey });
  const server = await startTestServer(storage, clock);
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (server.app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    storage,
    stop: () => server.app.close(),
    restart: () => Promise.reject(new Error('not restartable')),
    async close() {
      await server.app.close();
      await storage.close();
      await database.drop();
    },
  };
}

const STORAGES = [
  { name: 'SQLite', start: startListeningServer },
  { name: 'PostgreSQL', start: startPostgresListeningServer },
] as const;

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await a.close();
  await server.close();
});

/** The replicated columns of every patient and medical history on a device, in id order. */
async function replicatedRows(dataDir: string) {
  const db = await openRawDatabase(dataDir);
  try {
    // Column names are the entities' declared field names (constants), never input.
    const patientColumns = ['id', ...REPLICATED_ENTITIES.patient.fields].join(', ');
    const medicalColumns = ['patient_id', ...REPLICATED_ENTITIES.patient_medical.fields].join(', ');
    return {
      patients: db.prepare(`SELECT ${patientColumns} FROM patients ORDER BY id`).all() as Array<{
        id: string;
        first_name: string;
      }>,
      medical: db.prepare(`SELECT ${medicalColumns} FROM patient_medical ORDER BY patient_id`).all(),
    };
  } finally {
    db.close();
  }
}

/** Opens a device's core on its data directory again (as the app does at start), with the Dentist signed in. */
async function reopen(
  dataDir: string,
  seed: string,
  clock: ManualClock,
): Promise<{ core: ClinicCore; dentist: TestCaller }> {
  const core = await ClinicCore.open({
    dataDir,
    keyProvider: testKeyProvider(),
    // Another seed each time: ids made after a restart must not repeat the earlier ones.
    sources: testSources(seed, clock),
    bcryptCost: 4,
    rateLimits: { readsPerMinute: 100_000, writesPerMinute: 100_000, publicPerMinute: 100_000 },
    sync: FAST_SYNC,
  });
  const dentist = new TestCaller(core);
  await dentist.ok('auth.signIn', { username: 'drmeera', password: USER_PASSWORD });
  return { core, dentist };
}

describe.each(STORAGES)('a device restored from a backup older than the compaction horizon ($name)', ({ start }) => {
  beforeEach(async () => {
    server = await start();
    ({ clinic: a, dentist: dentistA, serverClinicId } = await connectFoundingClinic(server));
  });

  it('rejoins from a snapshot by itself, gets back what it had pushed, and its offline writes reach the others', async () => {
    // B joins (from a snapshot of the clinic) and both devices hold the same patients.
    const b: JoinedDevice = await joinFounderClinic(a, server.url, 'restore-device-b');
    let bCore = b.device.core;
    cleanup.push(async () => {
      await bCore.close();
      rmSync(b.device.dataDir, { recursive: true, force: true });
    });
    const shared = await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Shared', lastName: 'One' });
    await dentistA.ok('sync.now', {});
    expect(await b.dentist.ok('sync.now', {})).toMatchObject({ ok: true });

    // The backup: B's database files, copied while its app is closed.
    await bCore.close();
    const backup = mkdtempSync(join(tmpdir(), 'chairside-backup-'));
    cleanup.push(() => rmSync(backup, { recursive: true, force: true }));
    cpSync(b.device.dataDir, backup, { recursive: true });
    let bDentist: TestCaller;
    ({ core: bCore, dentist: bDentist } = await reopen(b.device.dataDir, 'restore-b-2', b.device.clock));

    // After the backup B registers a patient and pushes it; both devices edit the shared patient
    // many times, and pull past all of it.
    const lostLocally = await bDentist.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Pushed',
      lastName: 'ByB',
    });
    for (let round = 0; round < 3; round++) {
      await dentistA.ok('patients.update', {
        patientId: shared.id,
        firstName: `A${round}`,
        phone: `+91 98450 1000${round}`,
      });
      await bDentist.ok('patients.update', { patientId: shared.id, lastName: `B${round}` });
      for (const device of [dentistA, bDentist, dentistA]) {
        expect(await device.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
      }
    }
    for (const device of [bDentist, dentistA, bDentist]) await device.ok('sync.now', {});

    // The server compacts below the horizon both devices pulled past: superseded edits go.
    const store = await server.storage.clinic(serverClinicId);
    const compacted = await store.compactChanges();
    expect(compacted.removed).toBeGreaterThan(0);

    // B's database is restored from the backup, and B works offline on it before syncing.
    await bCore.close();
    rmSync(b.device.dataDir, { recursive: true, force: true });
    cpSync(backup, b.device.dataDir, { recursive: true });
    ({ core: bCore, dentist: bDentist } = await reopen(b.device.dataDir, 'restore-b-3', b.device.clock));
    const before = await replicatedRows(b.device.dataDir);
    expect(before.patients.map((patient) => patient.id)).not.toContain(lostLocally.id);
    const offline = await bDentist.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Offline',
      lastName: 'OnB',
    });
    await bDentist.ok('patients.updateMedicalHistory', {
      patientId: offline.id,
      allergies: [{ substance: 'Latex', severity: 'mild', reaction: null }],
      conditions: [],
      medications: [],
    });

    // B's next round pushes its offline work, learns it is behind, and starts again from a snapshot.
    const round = await bDentist.ok('sync.now', {});
    expect(round).toMatchObject({ pushed: 2, refused: 0 });
    await dentistA.ok('sync.now', {});
    await bDentist.ok('sync.now', {});

    const onA = await replicatedRows(a.dataDir);
    const onB = await replicatedRows(b.device.dataDir);
    expect(onB).toEqual(onA);
    const ids = onA.patients.map((patient) => patient.id);
    expect(ids).toEqual(expect.arrayContaining([shared.id, lostLocally.id, offline.id]));
    expect(onA.patients.find((patient) => patient.id === shared.id)?.first_name).toBe('A2');
    // Nothing B wrote is left unpushed.
    expect(await bDentist.ok('sync.status', {})).toMatchObject({ pending: 0 });
    // Its audit chain went back with the database: B goes on under a new epoch. (The entries it
    // appended on the restored copy before it learned of the restore fork the old epoch; the
    // server refuses that tail, and rounds report AUDIT_CHAIN_REJECTED, as after any fork.)
    expect(round.error).toBe('AUDIT_CHAIN_REJECTED');
    const raw = await openRawDatabase(b.device.dataDir);
    try {
      expect(raw.prepare('SELECT epoch FROM device').get()).toEqual({ epoch: 2 });
    } finally {
      raw.close();
    }
  });
});
