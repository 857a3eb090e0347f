import { afterEach, describe, expect, it } from 'vitest';
import { type TestClinic, createTestClinic } from '../../../test/support/clinic-fixture.js';

let clinic: TestClinic | undefined;
afterEach(async () => {
  await clinic?.close();
  clinic = undefined;
});

/** A clinic whose clock reads `now` (5 January 2026, 09:00 UTC unless told), with a Receptionist signed in. */
async function frontDesk(now = Date.UTC(2026, 0, 5, 9, 0, 0)) {
  clinic = await createTestClinic();
  clinic.clock.set(now);
  const desk = await clinic.signedInUser('Receptionist');
  const register = (fields: Record<string, string | null>) =>
    desk.call('patients.create', { branchId: clinic!.branchId, firstName: 'Asha', lastName: 'Sharma', ...fields });
  return { clinic, desk, register };
}

describe('date of birth at registration', () => {
  it('refuses a date of birth after today by the clinic clock, naming the field', async () => {
    const { register } = await frontDesk();
    const refused = await register({ dateOfBirth: '2026-01-06' });
    expect(refused).toMatchObject({
      ok: false,
      error: {
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining('dateOfBirth: Date of birth cannot be in the future'),
      },
    });
    expect(await register({ dateOfBirth: '2026-01-05' })).toMatchObject({ ok: true });
  });

  it('refuses a date in the future by the system clock in the input schema too', async () => {
    const { register } = await frontDesk();
    const refused = await register({ dateOfBirth: '2999-07-22' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(JSON.stringify(refused)).toContain('cannot be in the future');
  });

  it('refuses an age above 120 years and accepts exactly 120', async () => {
    // The input schema checks against the system clock, the handler against the clinic's: both read now here.
    const now = Date.now();
    const { register } = await frontDesk(now);
    const today = new Date(now);
    const iso = (date: Date) =>
      `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
    const exactly120 = new Date(today.getFullYear() - 120, today.getMonth(), today.getDate());
    const dayBefore = new Date(exactly120.getFullYear(), exactly120.getMonth(), exactly120.getDate() - 1);
    expect(await register({ dateOfBirth: iso(dayBefore) })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('more than 120 years ago') },
    });
    expect(await register({ dateOfBirth: iso(exactly120) })).toMatchObject({ ok: true });
  });

  it('refuses the same dates when a patient is edited', async () => {
    const { desk, register } = await frontDesk();
    const created = await register({ dateOfBirth: '2003-02-15' });
    if (!created.ok) throw new Error('registration failed');
    const { id } = created.output as { id: string };
    expect(await desk.call('patients.update', { patientId: id, dateOfBirth: '2026-03-01' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED' },
    });
  });
});

describe('patients.findDuplicates', () => {
  async function withAsha() {
    const context = await frontDesk();
    const created = await context.register({ dateOfBirth: '2003-02-15', phone: '+91 78378 27594' });
    if (!created.ok) throw new Error('registration failed');
    return { ...context, asha: created.output as { id: string; patientNumber: string } };
  }

  it('finds a registered patient by name and date of birth, ignoring case, accents and spacing', async () => {
    const { desk, asha } = await withAsha();
    const { matches } = await desk.ok('patients.findDuplicates', {
      firstName: ' ASHA ',
      lastName: 'Sharmá',
      dateOfBirth: '2003-02-15',
    });
    expect(matches).toMatchObject([{ id: asha.id, patientNumber: asha.patientNumber }]);
  });

  it('matches the phone however it is written, and not a different phone or date', async () => {
    const { desk, asha } = await withAsha();
    const query = { firstName: 'Asha', lastName: 'Sharma', dateOfBirth: '2003-02-15' };
    expect((await desk.ok('patients.findDuplicates', { ...query, phone: '07837827594' })).matches).toMatchObject([
      { id: asha.id },
    ]);
    expect((await desk.ok('patients.findDuplicates', { ...query, phone: '98450 11111' })).matches).toEqual([]);
    expect((await desk.ok('patients.findDuplicates', { ...query, dateOfBirth: '2003-02-16' })).matches).toEqual([]);
    expect((await desk.ok('patients.findDuplicates', { ...query, firstName: 'Ashanti' })).matches).toEqual([]);
  });

  it('audits the check with the ids shown and none of the typed fields', async () => {
    const { clinic, desk, asha } = await withAsha();
    await desk.ok('patients.findDuplicates', { firstName: 'Asha', lastName: 'Sharma', dateOfBirth: '2003-02-15' });
    const log = await clinic.asAdmin('audit.list', { action: 'patients.findDuplicates' });
    expect(log.entries).toMatchObject([{ details: { matches: 1, patientIds: asha.id } }]);
    const everything = JSON.stringify(log);
    for (const secret of ['Asha', 'Sharma', '2003-02-15', '27594']) expect(everything).not.toContain(secret);
  });

  it('is refused before sign-in', async () => {
    const { clinic } = await withAsha();
    const { TestCaller } = await import('../../../test/support/clinic-fixture.js');
    const stranger = new TestCaller(clinic.core);
    expect(
      await stranger.errorCode('patients.findDuplicates', {
        firstName: 'Asha',
        lastName: 'Sharma',
        dateOfBirth: '2003-02-15',
      }),
    ).toBe('UNAUTHENTICATED');
  });
});
