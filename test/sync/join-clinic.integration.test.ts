/**
 * Joining a clinic on a fresh device (docs/sync-protocol.md, "Joining a clinic (built)"): device A,
 * a clinic with users and patients connected with sync.connect, makes a one-time code with
 * devices.createEnrollmentCode; a fresh ClinicCore B joins with setup.joinClinic, pulls
 * everything, and A's Dentist signs in on B with the same password, finds A's patients and reads
 * their medical history. An edit on B reaches A; a used code and a second join are refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClinicCore } from '../../main/core/clinic-core.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
} from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import {
  FAST_SYNC,
  type ListeningServer,
  operatorClinic,
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

/** A fresh device: no clinic database yet. */
async function freshDevice(seed: string): Promise<{ core: ClinicCore; caller: TestCaller; dataDir: string }> {
  const device = await openFreshDevice(seed);
  cleanup.push(() => device.close());
  return { core: device.core, caller: new TestCaller(device.core), dataDir: device.dataDir };
}

describe('setup.joinClinic', () => {
  it('joins a fresh device that signs A’s users in, finds A’s patients and syncs edits back', async () => {
    const dentistA = await a.signedInUser('Dentist', { allBranches: true, username: 'drmeera' });
    // Users are uploaded by sync.connect's snapshot (users.* do not record changes yet), so they
    // exist before connecting; patients are recorded by change capture as they are written.
    const { code: operatorCode } = await operatorClinic(server.storage);
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    await a.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: operatorCode });
    const patient = await dentistA.ok('patients.create', {
      branchId: a.branchId,
      firstName: 'Meera',
      lastName: 'Krishnan',
      phone: '98450 11111',
    });
    await dentistA.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies: [{ substance: 'Latex', severity: 'moderate' }],
      conditions: [],
      medications: [],
    });

    // A Dentist may not make codes; the Admin may, after re-authenticating.
    expect(await dentistA.errorCode('devices.createEnrollmentCode', {})).toBe('FORBIDDEN');
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const { code, expiresAt } = await a.asAdmin('devices.createEnrollmentCode', {});
    expect(expiresAt).toBeGreaterThan(a.clock.now());
    // The code is audited as an action, never as a value.
    const rawA = await openRawDatabase(a.dataDir);
    const entries = rawA
      .prepare("SELECT * FROM audit_log WHERE action = 'devices.createEnrollmentCode' AND outcome = 'success'")
      .all() as Array<Record<string, unknown>>;
    rawA.close();
    expect(entries).toHaveLength(1);
    expect(JSON.stringify(entries)).not.toContain(code);

    const b = await freshDevice('join-device-b');
    expect(await b.caller.ok('setup.status', {})).toEqual({ state: 'new', clinicName: null });
    const joined = await b.caller.ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: code });
    expect(joined.recoveryKey.length).toBeGreaterThan(20);
    expect(joined.applied).toBeGreaterThanOrEqual(5);
    expect(await b.caller.ok('setup.status', {})).toEqual({ state: 'ready', clinicName: 'Smile Dental' });
    // The join wrote with a rollback journal (WriteDb.beginBulkLoad); the device is back on WAL.
    const joinedDb = b.core['services'].clinic.db!;
    expect(joinedDb.query<{ journal_mode: string }>('SELECT journal_mode FROM pragma_journal_mode').get()).toEqual({
      journal_mode: 'wal',
    });
    const store = await server.storage.clinic(joined.serverClinicId);
    expect(await store.getDevice(joined.deviceId)).not.toBeNull();

    // A's Dentist, with the password set on A.
    const dentistB = new TestCaller(b.core);
    await dentistB.ok('auth.signIn', { username: 'drmeera', password: USER_PASSWORD });
    const found = await dentistB.ok('patients.search', { query: 'meer' });
    expect(found.results.map((result) => result.id)).toEqual([patient.id]);
    const record = await dentistB.ok('patients.get', { patientId: patient.id });
    expect(record).toMatchObject({ firstName: 'Meera', patientNumber: patient.patientNumber });
    expect(record.medicalHistory?.allergies).toEqual([{ substance: 'Latex', severity: 'moderate' }]);
    // A's Admin too.
    await new TestCaller(b.core).ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });

    // An edit on B reaches A.
    await dentistB.ok('patients.update', { patientId: patient.id, phone: '98450 33333' });
    expect(await dentistB.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    expect((await dentistB.ok('sync.now', {})).pushed).toBe(0);
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true });
    expect(await dentistA.ok('patients.get', { patientId: patient.id })).toMatchObject({ phone: '98450 33333' });

    // Users made and passwords changed after connecting replicate too.
    await a.asAdmin('users.create', {
      username: 'frontdesk',
      displayName: 'Front Desk',
      role: 'Receptionist',
      allBranches: true,
      branchIds: [],
      password: 'Another-Long-Secret-9',
    });
    await dentistA.ok('auth.changePassword', { currentPassword: USER_PASSWORD, newPassword: 'Fresh-Enamel-Secret-7' });
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    expect(await dentistB.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    await new TestCaller(b.core).ok('auth.signIn', { username: 'frontdesk', password: 'Another-Long-Secret-9' });
    expect(
      await new TestCaller(b.core).errorCode('auth.signIn', { username: 'drmeera', password: USER_PASSWORD }),
    ).toBe('INVALID_CREDENTIALS');
    await new TestCaller(b.core).ok('auth.signIn', { username: 'drmeera', password: 'Fresh-Enamel-Secret-7' });

    // A used code is refused, and leaves the fresh device as it was.
    const c = await freshDevice('join-device-c');
    expect(await c.caller.errorCode('setup.joinClinic', { serverUrl: server.url, enrollmentCode: code })).toBe(
      'VALIDATION_FAILED',
    );
    expect(await c.caller.ok('setup.status', {})).toEqual({ state: 'new', clinicName: null });

    // Joining twice is refused.
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const another = await a.asAdmin('devices.createEnrollmentCode', {});
    expect(await b.caller.errorCode('setup.joinClinic', { serverUrl: server.url, enrollmentCode: another.code })).toBe(
      'ALREADY_SET_UP',
    );
    expect(await a.admin.errorCode('setup.joinClinic', { serverUrl: server.url, enrollmentCode: another.code })).toBe(
      'ALREADY_SET_UP',
    );
  });

  it('validates the server URL as sync.connect does', async () => {
    const b = await freshDevice('join-device-url');
    expect(
      await b.caller.errorCode('setup.joinClinic', { serverUrl: 'http://sync.example.com', enrollmentCode: 'X' }),
    ).toBe('VALIDATION_FAILED');
    expect(await b.caller.ok('setup.status', {})).toEqual({ state: 'new', clinicName: null });
  });

  it('refuses devices.createEnrollmentCode while the clinic is not connected', async () => {
    await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    expect(await a.admin.errorCode('devices.createEnrollmentCode', {})).toBe('CONFLICT');
  });
});
