import { afterEach, describe, expect, it } from 'vitest';
import { TestCaller, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';

let clinic: TestClinic | undefined;
afterEach(async () => {
  await clinic?.close();
  clinic = undefined;
});

/** A clinic with a Dentist and a handful of patients. */
async function clinicWithPatients() {
  clinic = await createTestClinic();
  const dentist = await clinic.signedInUser('Dentist');
  const add = (firstName: string, lastName: string, extra: Record<string, string> = {}) =>
    dentist.ok('patients.create', { branchId: clinic!.branchId, firstName, lastName, ...extra });
  const jose = await add('José', 'Álvarez', { phone: '+91 98765 43210', dateOfBirth: '1984-03-12' });
  const joseph = await add('Joseph', 'Fernandes', { phone: '022 2345 6789', dateOfBirth: '1990-11-02' });
  const priya = await add('Priya', 'Shah', { phone: '+44 20 7946 0958' });
  const anneMarie = await add('Anne-Marie', "O'Brien");
  return { clinic, dentist, jose, joseph, priya, anneMarie };
}

const ids = (output: { results: Array<{ id: string }> }) => output.results.map((r) => r.id);

describe('patient search', () => {
  it('finds by name prefix, ignoring case and accents', async () => {
    const { dentist, jose, joseph } = await clinicWithPatients();
    expect(ids(await dentist.ok('patients.search', { query: 'jos' })).sort()).toEqual([jose.id, joseph.id].sort());
    expect(ids(await dentist.ok('patients.search', { query: 'ALVA' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: 'josé álv' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: 'jose alvarez' }))).toEqual([jose.id]);
  });

  it('finds names with hyphens and apostrophes by any of their parts', async () => {
    const { dentist, anneMarie } = await clinicWithPatients();
    expect(ids(await dentist.ok('patients.search', { query: 'marie' }))).toEqual([anneMarie.id]);
    expect(ids(await dentist.ok('patients.search', { query: "o'bri" }))).toEqual([anneMarie.id]);
  });

  it('finds by phone digits, with or without the country code and separators', async () => {
    const { dentist, jose, priya } = await clinicWithPatients();
    expect(ids(await dentist.ok('patients.search', { query: '98765' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: '+91 98765' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: '919876543210' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: '207946' }))).toEqual([priya.id]);
  });

  it('finds by date of birth, ISO or day first', async () => {
    const { dentist, jose, joseph } = await clinicWithPatients();
    expect(ids(await dentist.ok('patients.search', { query: '1984-03-12' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: '2/11/1990' }))).toEqual([joseph.id]);
  });

  it('finds by patient number, with or without the prefix and padding', async () => {
    const { dentist, joseph } = await clinicWithPatients();
    expect(joseph.patientNumber).toBe('P000002');
    expect(ids(await dentist.ok('patients.search', { query: 'P000002' }))).toEqual([joseph.id]);
    expect(ids(await dentist.ok('patients.search', { query: 'p0000' })).length).toBe(4);
  });

  it('limits results and ranks a closer name match first', async () => {
    clinic = await createTestClinic();
    const desk = await clinic.signedInUser('Receptionist');
    for (let i = 0; i < 30; i++) {
      await desk.ok('patients.create', { branchId: clinic.branchId, firstName: `Kiran${i}`, lastName: 'Kumar Kumar' });
    }
    const exact = await desk.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Kumar',
      lastName: 'Kumar',
    });
    const limited = await desk.ok('patients.search', { query: 'kumar', limit: 10 });
    expect(limited.results).toHaveLength(10);
    expect((await desk.ok('patients.search', { query: 'kumar' })).results).toHaveLength(20);
    expect(limited.results[0]!.id).toBe(exact.id);
  });

  it('hides archived patients unless asked, and returns nothing for an empty query', async () => {
    const { dentist, priya } = await clinicWithPatients();
    await dentist.ok('patients.archive', { patientId: priya.id, reason: 'Moved abroad' });
    expect(ids(await dentist.ok('patients.search', { query: 'priya' }))).toEqual([]);
    const withArchived = await dentist.ok('patients.search', { query: 'priya', includeArchived: true });
    expect(withArchived.results).toMatchObject([{ id: priya.id, archived: true }]);
    expect((await dentist.ok('patients.search', { query: '  ' })).results).toEqual([]);
    expect((await dentist.ok('patients.search', { query: '"*()' })).results).toEqual([]);
  });
});

describe('patient records', () => {
  it('updates only the fields given and keeps the rest', async () => {
    const { dentist, jose } = await clinicWithPatients();
    const updated = await dentist.ok('patients.update', { patientId: jose.id, phone: '+91 90000 11111', email: null });
    expect(updated).toMatchObject({ firstName: 'José', lastName: 'Álvarez', phone: '+91 90000 11111', email: null });
    expect(ids(await dentist.ok('patients.search', { query: '90000' }))).toEqual([jose.id]);
    expect(ids(await dentist.ok('patients.search', { query: '98765' }))).toEqual([]);
  });

  it('returns medical history with alerts to a Dentist and to Staff', async () => {
    const { clinic, dentist, jose } = await clinicWithPatients();
    const saved = await dentist.ok('patients.updateMedicalHistory', {
      patientId: jose.id,
      allergies: [{ substance: 'Penicillin', severity: 'severe', reaction: 'Rash' }],
      conditions: [{ name: 'Type 2 diabetes' }],
      medications: [{ name: 'Warfarin', dose: '5 mg' }],
    });
    expect(saved.alerts.map((a) => a.label)).toEqual([
      'Allergy: Penicillin',
      'Anticoagulant: Warfarin',
      'Condition: Type 2 diabetes',
    ]);
    const record = await dentist.ok('patients.get', { patientId: jose.id });
    expect(record.medicalHistory?.allergies).toEqual([
      { substance: 'Penicillin', severity: 'severe', reaction: 'Rash' },
    ]);
    expect(record.alerts?.[0]).toEqual({ kind: 'allergy', severity: 'critical', label: 'Allergy: Penicillin' });
    const staff = await clinic.signedInUser('Staff');
    expect((await staff.ok('patients.get', { patientId: jose.id })).alerts).toHaveLength(3);
  });

  it('never returns medical history to a Receptionist or an Admin, through any patient channel', async () => {
    const { clinic, dentist, jose } = await clinicWithPatients();
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: jose.id,
      allergies: [{ substance: 'Latex', severity: 'moderate' }],
      conditions: [],
      medications: [{ name: 'Apixaban' }],
    });
    const desk = await clinic.signedInUser('Receptionist');
    for (const caller of [desk, clinic.admin]) {
      const outputs = [
        await caller.ok('patients.get', { patientId: jose.id }),
        await caller.ok('patients.update', { patientId: jose.id, address: '12 MG Road' }),
        await caller.ok('patients.search', { query: 'jose' }),
      ];
      for (const output of outputs) {
        const text = JSON.stringify(output);
        expect(text).not.toMatch(/Latex|Apixaban|medicalHistory|alerts/);
      }
    }
    expect(
      await desk.errorCode('patients.updateMedicalHistory', {
        patientId: jose.id,
        allergies: [],
        conditions: [],
        medications: [],
      }),
    ).toBe('FORBIDDEN');
  });

  it('keeps users to their branches: other branches’ patients are neither found nor opened', async () => {
    const { clinic, jose } = await clinicWithPatients();
    const north = await clinic.asAdmin('branches.create', { name: 'North' });
    const northDesk = await clinic.signedInUser('Receptionist', { branchIds: [north.id] });
    expect(ids(await northDesk.ok('patients.search', { query: 'jose' }))).toEqual([]);
    expect(await northDesk.errorCode('patients.get', { patientId: jose.id })).toBe('FORBIDDEN');
    expect(await northDesk.errorCode('patients.update', { patientId: jose.id, phone: '123456789' })).toBe('FORBIDDEN');
    expect(
      await northDesk.errorCode('patients.create', { branchId: clinic.branchId, firstName: 'Not', lastName: 'Mine' }),
    ).toBe('FORBIDDEN');
    const own = await northDesk.ok('patients.create', { branchId: north.id, firstName: 'Nila', lastName: 'North' });
    expect(own.branchId).toBe(north.id);
    expect((await northDesk.ok('branches.list', {})).branches.map((b) => b.id)).toEqual([north.id]);
  });

  it('archives a patient once, keeping the record', async () => {
    const { dentist, joseph } = await clinicWithPatients();
    const archived = await dentist.ok('patients.archive', { patientId: joseph.id, reason: 'Deceased' });
    expect(archived.archivedAt).not.toBeNull();
    expect(await dentist.errorCode('patients.archive', { patientId: joseph.id, reason: 'Again' })).toBe('CONFLICT');
    expect((await dentist.ok('patients.get', { patientId: joseph.id })).firstName).toBe('Joseph');
  });
});

describe('pipeline guarantees on patient data', () => {
  it('rejects unknown keys and invalid fields, naming the field but never echoing the value', async () => {
    const { dentist, jose } = await clinicWithPatients();
    const unknownKey = await dentist.call('patients.get', { patientId: jose.id, include: 'everything' });
    expect(unknownKey).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    const badEmail = await dentist.call('patients.update', {
      patientId: jose.id,
      email: 'Zarathustra Secretname at home',
    });
    expect(badEmail).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('email') },
    });
    expect(JSON.stringify(badEmail)).not.toContain('Zarathustra');
    expect(JSON.stringify(badEmail)).not.toMatch(/at .*\.ts|stack/);
  });

  it('audits every read and write of patient data by id, with no names, phones or history in the log', async () => {
    const { clinic, dentist, jose } = await clinicWithPatients();
    await dentist.ok('patients.get', { patientId: jose.id });
    await dentist.ok('patients.search', { query: 'alvarez' });
    await dentist.ok('patients.update', { patientId: jose.id, firstName: 'Josefina' });
    const log = await clinic.asAdmin('audit.list', { entityId: jose.id });
    expect(log.entries.map((e) => e.action)).toEqual(['patients.update', 'patients.get', 'patients.create']);
    expect(log.entries[0]!.details).toEqual({ changed: 'firstName' });
    const searches = await clinic.asAdmin('audit.list', { action: 'patients.search' });
    expect(searches.entries[0]!.details).toEqual({ kind: 'name', results: 1 });
    const everything = JSON.stringify(await clinic.asAdmin('audit.list', { limit: 500 }));
    for (const secret of ['José', 'Josefina', 'Álvarez', 'alvarez', '98765', '1984-03-12']) {
      expect(everything).not.toContain(secret);
    }
  });

  it('audits a denial with the caller and the error code', async () => {
    const { clinic, jose } = await clinicWithPatients();
    const desk = await clinic.signedInUser('Receptionist');
    await desk.call('patients.updateMedicalHistory', {
      patientId: jose.id,
      allergies: [],
      conditions: [],
      medications: [],
    });
    const denied = await clinic.asAdmin('audit.list', { outcome: 'denied', action: 'patients.updateMedicalHistory' });
    expect(denied.entries).toMatchObject([
      { userId: desk.userId, role: 'Receptionist', details: { code: 'FORBIDDEN' } },
    ]);
  });

  it('refuses calls before sign-in and reports unknown channels as not found', async () => {
    await clinicWithPatients();
    const stranger = new TestCaller(clinic!.core);
    expect(await stranger.errorCode('patients.search', { query: 'jose' })).toBe('UNAUTHENTICATED');
    expect(await stranger.errorCode('patients.exportEverything', {})).toBe('NOT_FOUND');
  });
});
