/**
 * An offline clinic connected to a sync server later: everything its users recorded before the
 * connection reaches the server and is accepted, whoever recorded it (issue #4: "An existing
 * offline clinic can be connected to a server later, and everything recorded before then
 * syncs"). Rows recorded before connecting carry older clocks than the user records the
 * connection queues, so the push must introduce the users before their work.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import { FAST_SYNC, type ListeningServer, operatorClinic, startListeningServer } from './sync-support.js';

let server: ListeningServer;
let clinic: TestClinic;

beforeEach(async () => {
  server = await startListeningServer();
  clinic = await createTestClinic({ sync: FAST_SYNC });
});
afterEach(async () => {
  await clinic.close();
  await server.close();
});

describe('connecting a clinic that worked offline', () => {
  it('uploads patients and medical histories recorded before connecting by the Admin and by other users, none refused', async () => {
    const dentist = await clinic.signedInUser('Dentist');
    const receptionist = await clinic.signedInUser('Receptionist');
    const byAdmin = await clinic.asAdmin('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Asha',
      lastName: 'Rao',
    });
    const byReceptionist = await receptionist.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Vikram',
      lastName: 'Shetty',
    });
    const byDentist = await dentist.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Leela',
      lastName: 'Menon',
    });
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: byReceptionist.id,
      allergies: [{ substance: 'Penicillin', severity: 'severe' }],
      conditions: [],
      medications: [],
    });

    const { clinicId, code } = await operatorClinic(server.storage);
    await clinic.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: code });
    const round = await clinic.asAdmin('sync.now', {});

    expect(round).toMatchObject({ ok: true, refused: 0 });
    const status = await clinic.asAdmin('sync.status', {});
    expect(status).toMatchObject({ pending: 0, refused: 0 });
    const store = await server.storage.clinic(clinicId);
    const changes = (await store.pullChanges({ after: 0, limit: 1000 })).changes;
    const patientRows = changes.filter((change) => change.entity === 'patient').map((change) => change.rowId);
    expect(patientRows).toEqual(expect.arrayContaining([byAdmin.id, byReceptionist.id, byDentist.id]));
    expect(changes.some((change) => change.entity === 'patient_medical' && change.rowId === byReceptionist.id)).toBe(
      true,
    );
    const quarantined = await store.listQuarantinedChanges({ deviceId: changes[0]!.deviceId, after: 0, limit: 100 });
    expect(quarantined.changes).toEqual([]);
  });
});
