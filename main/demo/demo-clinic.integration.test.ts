import { afterEach, describe, expect, it } from 'vitest';
import { TestCaller, tempDataDir, testKeyProvider } from '../../test/support/clinic-fixture.js';
import { ClinicCore } from '../core/clinic-core.js';
import { DEMO_USERS, populateDemoClinic } from './demo-clinic.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => cleanup?.());

describe('demo clinic', () => {
  it('creates users of every role and audited synthetic patients with medical histories, reporting progress', async () => {
    const temp = tempDataDir();
    const core = await ClinicCore.open({
      dataDir: temp.dir,
      keyProvider: testKeyProvider(),
      bcryptCost: 4,
      rateLimits: { writesPerMinute: 10_000 },
    });
    cleanup = async () => {
      await core.close();
      temp.remove();
    };
    const progress: number[] = [];
    await populateDemoClinic(core, { patients: 300, onProgress: (done) => progress.push(done) });
    expect(progress).toEqual([250, 300]);

    const receptionist = new TestCaller(core);
    await receptionist.ok('auth.signIn', { username: DEMO_USERS[2].username, password: DEMO_USERS[2].password });
    const found = await receptionist.ok('patients.search', { query: 'p000', limit: 50 });
    expect(found.results).toHaveLength(50);

    const dentist = new TestCaller(core);
    await dentist.ok('auth.signIn', { username: DEMO_USERS[1].username, password: DEMO_USERS[1].password });
    let withAlerts = 0;
    for (const hit of found.results) {
      const record = await dentist.ok('patients.get', { patientId: hit.id });
      if ((record.alerts ?? []).length > 0) withAlerts++;
    }
    expect(withAlerts).toBeGreaterThan(5);

    const admin = new TestCaller(core);
    await admin.ok('auth.signIn', { username: DEMO_USERS[0].username, password: DEMO_USERS[0].password });
    const users = await admin.ok('users.list', {});
    expect(users.users.map((u) => u.role).sort()).toEqual(['Admin', 'Dentist', 'Receptionist', 'Staff']);
    const audit = await admin.ok('audit.list', { action: 'patients.create', limit: 500 });
    expect(audit.entries).toHaveLength(300);
    expect((await admin.ok('audit.verify', {})).ok).toBe(true);
  });
});
