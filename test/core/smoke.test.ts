import { afterEach, describe, expect, it } from 'vitest';
import { type TestClinic, createTestClinic } from '../support/clinic-fixture.js';

let clinic: TestClinic | undefined;
afterEach(async () => clinic?.close());

describe('clinic core', () => {
  it('creates a clinic, registers a patient and finds it by name prefix', async () => {
    clinic = await createTestClinic();
    const dentist = await clinic.signedInUser('Dentist');
    const created = await dentist.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'José',
      lastName: 'Álvarez',
      phone: '+91 98765 43210',
      dateOfBirth: '1984-03-12',
    });
    expect(created.patientNumber).toBe('P000001');
    const found = await dentist.ok('patients.search', { query: 'alv' });
    expect(found.results.map((r) => r.id)).toEqual([created.id]);
    const verify = await clinic.admin.ok('audit.verify', {});
    expect(verify.ok).toBe(true);
  });
});
