/**
 * Branch scope across devices and the server (docs/sync-protocol.md, "The user directory" and
 * "Branch scope"). Device A has two branches, a Receptionist limited to branch 1 (created before
 * connecting, so uploaded by sync.connect's snapshot) and a Dentist limited to branch 1 (created
 * after, so recorded by users.create). A fresh device B joins: the Receptionist signs in there and
 * sees only branch-1 patients. Changes forged for those users (a patient inserted in branch 2, a
 * branch-2 patient's medical history) are quarantined `forbidden` by the server; all-branches users
 * are not limited, and a later reassignment on A reaches B.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClinicCore } from '../../main/core/clinic-core.js';
import { TestDevice, testUlid, validChange } from '../support/sync-server/test-support.js';
import type { ChangeInput } from '../../sync-server/storage/storage.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
} from '../support/clinic-fixture.js';
import {
  FAST_SYNC,
  type ListeningServer,
  operatorClinic,
  operatorCode,
  startListeningServer,
  openFreshDevice,
} from './sync-support.js';

let server: ListeningServer;
let a: TestClinic;
const cleanup: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  server = await startListeningServer();
  a = await createTestClinic({ sync: FAST_SYNC });
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await a.close();
  await server.close();
});

async function freshDevice(seed: string): Promise<ClinicCore> {
  const device = await openFreshDevice(seed);
  cleanup.push(() => device.close());
  return device.core;
}

async function signIn(core: ClinicCore, username: string, password = USER_PASSWORD): Promise<TestCaller> {
  const caller = new TestCaller(core);
  await caller.ok('auth.signIn', { username, password });
  return caller;
}

/** The first names of the patients a caller finds (every test patient is a Shah). */
async function visibleFirstNames(caller: TestCaller): Promise<string[]> {
  const found = await caller.ok('patients.search', { query: 'shah' });
  return found.results.map((result) => result.firstName).sort();
}

describe('branch assignments replicate and the server checks branch scope', () => {
  it('limits a branch-1 user to branch 1 on a joined device and quarantines their changes outside it', async () => {
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const branch2 = (await a.asAdmin('branches.create', { name: 'Lake Road' })).id;
    const receptionist = await a.signedInUser('Receptionist', { branchIds: [a.branchId], username: 'frontdesk1' });
    const { clinicId, code } = await operatorClinic(server.storage);
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    await a.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: code });
    const dentist = await a.signedInUser('Dentist', { branchIds: [a.branchId], username: 'drbranch1' });
    const roaming = await a.signedInUser('Dentist', { allBranches: true, username: 'drroaming' });
    const inBranch1 = await a.asAdmin('patients.create', { branchId: a.branchId, firstName: 'Anil', lastName: 'Shah' });
    const inBranch2 = await a.asAdmin('patients.create', { branchId: branch2, firstName: 'Bina', lastName: 'Shah' });
    expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    expect(await visibleFirstNames(receptionist)).toEqual(['Anil']);

    // The server's directory holds both users' scope, from the snapshot and from users.create.
    const store = await server.storage.clinic(clinicId);
    const directory = await store.readUserDirectory([receptionist.userId, dentist.userId, roaming.userId]);
    const scopes = Object.fromEntries(directory.users.map((user) => [user.userId, [user.allBranches, user.branchIds]]));
    expect(scopes).toEqual({
      [receptionist.userId]: [false, [a.branchId]],
      [dentist.userId]: [false, [a.branchId]],
      [roaming.userId]: [true, []],
    });

    // Device B joins; the Receptionist signs in there with A's password and sees branch 1 only.
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const { code: joinCode } = await a.asAdmin('devices.createEnrollmentCode', {});
    const b = await freshDevice('branch-scope-device-b');
    await new TestCaller(b).ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: joinCode });
    expect(await visibleFirstNames(await signIn(b, 'frontdesk1'))).toEqual(['Anil']);
    expect(await visibleFirstNames(await signIn(b, 'drbranch1'))).toEqual(['Anil']);
    const roamingB = await signIn(b, 'drroaming');
    expect(await visibleFirstNames(roamingB)).toEqual(['Anil', 'Bina']);

    // An all-branches user edits the branch-2 patient's medical history on B: accepted.
    await roamingB.ok('patients.updateMedicalHistory', {
      patientId: inBranch2.id,
      allergies: [{ substance: 'Penicillin', severity: 'severe' }],
      conditions: [],
      medications: [],
    });
    expect(await roamingB.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });

    // A forger with a device of the clinic pushes changes in the limited users' names.
    const forger = new TestDevice(server.server, 'forger-device');
    expect((await forger.enroll(await operatorCode(server.storage, clinicId))).statusCode).toBe(200);
    const token = await forger.token();
    const pushOne = async (change: ChangeInput) => {
      const response = await server.server.call('POST', '/v1/changes', {
        token,
        body: { protocolVersion: 1, batches: [{ txId: change.txId, changes: [change] }] },
      });
      expect(response.statusCode, response.body).toBe(200);
      return store.findQuarantinedChanges([change.changeId]);
    };
    const wallMs = server.server.clock.now();
    const forgedInsert = validChange(forger.deviceId, testUlid(), {
      userId: receptionist.userId,
      op: 'insert',
      fields: { branch_id: branch2, first_name: 'Chetan', last_name: 'Shah' },
      wallMs,
    });
    const insertRows = await pushOne({ ...forgedInsert, txId: forgedInsert.changeId });
    expect(insertRows.map((row) => [row.reason, row.detail])).toEqual([
      ['forbidden', "fields.branch_id: outside the user's branches"],
    ]);
    const forgedMedical = validChange(forger.deviceId, testUlid(), {
      userId: dentist.userId,
      entity: 'patient_medical',
      rowId: inBranch2.id,
      fields: { allergies: '[]' },
      wallMs,
    });
    const medicalRows = await pushOne({ ...forgedMedical, txId: forgedMedical.changeId });
    expect(medicalRows.map((row) => [row.reason, row.detail])).toEqual([
      ['forbidden', "branch_id: the patient is outside the user's branches"],
    ]);
    // The same Dentist's change of a branch-1 patient passes the branch check but not the
    // signature check: the forger was not given the Dentist's password (issue #11).
    const allowed = validChange(forger.deviceId, testUlid(), {
      userId: dentist.userId,
      entity: 'patient_medical',
      rowId: inBranch1.id,
      fields: { allergies: '[]' },
      wallMs,
    });
    const allowedRows = await pushOne({ ...allowed, txId: allowed.changeId });
    expect(allowedRows.map((row) => [row.reason, row.detail])).toEqual([['forbidden', 'signature: missing']]);
    // Details name the rule, never the branch the forger tried.
    const reasons = await store.findQuarantinedChanges([forgedInsert.changeId, forgedMedical.changeId]);
    expect(JSON.stringify(reasons.map((row) => row.detail))).not.toContain(branch2);

    // A reassignment on A (now both branches) reaches B.
    await a.asAdmin('users.update', { userId: receptionist.userId, branchIds: [a.branchId, branch2] });
    expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    const adminB = await signIn(b, 'admin', ADMIN_PASSWORD);
    expect(await adminB.ok('sync.now', {})).toMatchObject({ ok: true });
    expect(await visibleFirstNames(await signIn(b, 'frontdesk1'))).toEqual(['Anil', 'Bina']);
  });
});

describe('a patient the server refused keeps its dependent changes out of the log', () => {
  it("quarantines an offline medical history of a patient whose insert fell outside the author's new branches, so other devices keep syncing", async () => {
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const branch2 = (await a.asAdmin('branches.create', { name: 'Lake Road' })).id;
    const { code } = await operatorClinic(server.storage);
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    await a.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: code });
    const dentist = await a.signedInUser('Dentist', { branchIds: [a.branchId, branch2], username: 'drtwobranch' });
    expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const { code: joinCode } = await a.asAdmin('devices.createEnrollmentCode', {});
    const b = await freshDevice('orphan-device-b');
    await new TestCaller(b).ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: joinCode });
    const dentistB = await signIn(b, 'drtwobranch');

    // A takes branch 2 from the Dentist while B, not yet told, registers a branch-2 patient with a history.
    await a.asAdmin('users.update', { userId: dentist.userId, branchIds: [a.branchId] });
    expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    const patient = await dentistB.ok('patients.create', { branchId: branch2, firstName: 'Devika', lastName: 'Shah' });
    await dentistB.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies: [{ substance: 'Latex', severity: 'severe' }],
      conditions: [],
      medications: [],
    });

    // Both are refused and shown on B; nothing of that patient reaches the log.
    const pushed = await dentistB.ok('sync.now', {});
    // A keeps syncing: before the fix it pulled the history without its patient and every round
    // failed (LOCAL_FAILURE, a foreign key), for good.
    expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true });
    expect(pushed).toMatchObject({ ok: true, refused: 2 });
    await a.asAdmin('patients.create', { branchId: a.branchId, firstName: 'Esha', lastName: 'Shah' });
    expect(await a.asAdmin('sync.now', {})).toMatchObject({ ok: true, pushed: 1 });
  });
});
