/**
 * A clinic core in a child process, writing until it is killed (the SIGKILL test in
 * convergence.property.test.ts). It opens the clinic in argv[2], signs the Dentist in and, for
 * patient after patient, creates it and then changes its phone, printing one line per write only
 * after the API call returned success:
 *
 *   created <patientId> <lastName>
 *   updated <patientId> <phone>
 *
 * Run with tsx; never imported by tests.
 */
import { ClinicCore } from '../../../main/core/clinic-core.js';
import { ManualClock, testSources } from '../../../main/core/platform/sources.js';
import { TestCaller, USER_PASSWORD, testKeyProvider } from '../../support/clinic-fixture.js';

async function main(): Promise<void> {
  const [dataDir, username, branchId] = process.argv.slice(2);
  if (!dataDir || !username || !branchId) throw new Error('usage: acknowledging-writer DATA_DIR USERNAME BRANCH_ID');
  const clock = new ManualClock(Date.UTC(2026, 0, 6, 9, 0, 0));
  const core = await ClinicCore.open({
    dataDir,
    keyProvider: testKeyProvider(),
    sources: testSources(`acknowledging-writer:${process.pid}`, clock),
    bcryptCost: 4,
    rateLimits: { readsPerMinute: 1_000_000, writesPerMinute: 1_000_000, publicPerMinute: 1_000_000 },
  });
  const dentist = new TestCaller(core);
  await dentist.ok('auth.signIn', { username, password: USER_PASSWORD });
  process.stdout.write('ready\n');
  for (let n = 1; ; n++) {
    clock.advance(1_000);
    const lastName = `Killed${n}`;
    const created = await dentist.ok('patients.create', { branchId, firstName: 'Writer', lastName });
    process.stdout.write(`created ${created.id} ${lastName}\n`);
    const phone = `98450 ${String(n).padStart(5, '0')}`;
    await dentist.ok('patients.update', { patientId: created.id, phone });
    process.stdout.write(`updated ${created.id} ${phone.replace(' ', '_')}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
