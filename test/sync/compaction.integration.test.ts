/**
 * Change-log compaction through a real sync server (docs/sync-protocol.md, "Compaction (built)"):
 * devices A and B edit the same patients many times and sync; the operator compacts the clinic's
 * log below the horizon both devices have pulled past; a device C joining afterwards from the
 * compacted log ends with the same patients and medical histories as A and B, and later edits
 * still reach everyone.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPLICATED_ENTITIES } from '../../shared/sync/change.js';
import { pullWholeLog } from '../support/sync-server/conformance-fixtures.js';
import type { ClinicStore } from '../../sync-server/storage/storage.js';
import type { TestCaller, TestClinic } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import {
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

beforeEach(async () => {
  server = await startListeningServer();
  ({ clinic: a, dentist: dentistA, serverClinicId } = await connectFoundingClinic(server));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await a.close();
  await server.close();
});

/** A fresh device joins the clinic with a code from A's Admin; A's Dentist signs in on it. */
async function joinDevice(seed: string): Promise<{ dentist: TestCaller; dataDir: string }> {
  const joined = await joinFounderClinic(a, server.url, seed);
  cleanup.push(() => joined.device.close());
  return { dentist: joined.dentist, dataDir: joined.device.dataDir };
}

/** The replicated columns of every patient and medical history on a device, in id order. */
async function replicatedRows(dataDir: string) {
  const db = await openRawDatabase(dataDir);
  try {
    // Column names are the entities' declared field names (constants), never input.
    const patientColumns = ['id', ...REPLICATED_ENTITIES.patient.fields].join(', ');
    const medicalColumns = ['patient_id', ...REPLICATED_ENTITIES.patient_medical.fields].join(', ');
    return {
      patients: db.prepare(`SELECT ${patientColumns} FROM patients ORDER BY id`).all(),
      medical: db.prepare(`SELECT ${medicalColumns} FROM patient_medical ORDER BY patient_id`).all(),
    };
  } finally {
    db.close();
  }
}

/** How many changes the server's log holds for the clinic. */
async function logSize(store: ClinicStore): Promise<number> {
  return (await pullWholeLog(store)).length;
}

describe('change-log compaction', () => {
  it('lets a device joining after compaction reach the same patients and medical histories as the others', async () => {
    const b = await joinDevice('compaction-device-b');
    const patientIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await dentistA.ok('patients.create', {
        branchId: a.branchId,
        firstName: `Pat${i}`,
        lastName: 'X',
      });
      patientIds.push(created.id);
    }
    await dentistA.ok('sync.now', {});
    await b.dentist.ok('sync.now', {});

    // Both devices edit the same patients, round after round: names, phones and medical lists.
    for (let round = 0; round < 4; round++) {
      for (const [i, patientId] of patientIds.entries()) {
        await dentistA.ok('patients.update', {
          patientId,
          firstName: `A${round}-${i}`,
          phone: `+91 98450 1${round}00${i}`,
        });
        await b.dentist.ok('patients.update', { patientId, lastName: `B${round}-${i}` });
        await dentistA.ok('patients.updateMedicalHistory', {
          patientId,
          allergies: [{ substance: `Penicillin ${round}`, severity: 'severe', reaction: null }],
          conditions: [],
          medications: [],
        });
        await b.dentist.ok('patients.updateMedicalHistory', {
          patientId,
          allergies: [{ substance: `Latex ${round}`, severity: 'mild', reaction: null }],
          conditions: [{ name: `Asthma ${round}`, note: null }],
          medications: [{ name: `Salbutamol ${round}`, dose: null }],
        });
      }
      for (const device of [dentistA, b.dentist, dentistA]) {
        expect(await device.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
      }
    }
    // Rounds without new work: each device pulls once more from the end of the log, recording that cursor.
    for (const device of [b.dentist, dentistA, b.dentist]) await device.ok('sync.now', {});
    const before = await replicatedRows(a.dataDir);
    expect(await replicatedRows(b.dataDir)).toEqual(before);

    const store = await server.storage.clinic(serverClinicId);
    const latest = await store.latestChangeSeq();
    const sizeBefore = await logSize(store);
    const result = await store.compactChanges();
    expect(result.horizon).toBe(latest);
    expect(result.removed).toBeGreaterThanOrEqual(4 * 3 * 2);
    expect(result.kept).toBe(sizeBefore - result.removed);
    expect(await logSize(store)).toBe(result.kept);
    expect(await store.latestChangeSeq()).toBe(latest);

    const c = await joinDevice('compaction-device-c');
    expect(await replicatedRows(c.dataDir)).toEqual(before);

    // The log goes on after compaction: a later edit reaches every device, the new one too.
    await dentistA.ok('patients.update', { patientId: patientIds[0]!, firstName: 'After' });
    await dentistA.ok('sync.now', {});
    await b.dentist.ok('sync.now', {});
    await c.dentist.ok('sync.now', {});
    const after = await replicatedRows(a.dataDir);
    expect(after.patients).toContainEqual(expect.objectContaining({ id: patientIds[0], first_name: 'After' }));
    expect(await replicatedRows(b.dataDir)).toEqual(after);
    expect(await replicatedRows(c.dataDir)).toEqual(after);
  });
});
