/**
 * Shared by the encryption integration tests: a clinic with one distinctive patient, reopening
 * the clinic with a given key provider, hashing the data directory, and the unwrapped key.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { clinicPaths } from '../../main/core/clinic-files.js';
import { ClinicCore } from '../../main/core/clinic-core.js';
import { readKeyFile } from '../../main/core/keys/key-file.js';
import type { KeyProvider } from '../../main/core/keys/wrapped-key.js';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import {
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
  testKeyProvider,
} from '../support/clinic-fixture.js';

/** Field values distinctive enough that finding one in a file can only mean it leaked. */
export const PATIENT = {
  firstName: 'Zephyrine',
  lastName: 'Quillfeather',
  phone: '+91 98111 27364',
  email: 'zephyrine.quillfeather@example.org',
  address: '17 Marigold Lane, Kothrud, Pune',
  dateOfBirth: '1979-11-23',
} as const;
export const MEDICAL = {
  allergy: 'Penicillin-Xq',
  reaction: 'Urticaria-Xq-Anaphylaxis',
  condition: 'Hemophilia-Xq-Mild',
  medication: 'Warfarin-Xq-5mg',
} as const;

/** A test clinic (in dataDir, which the caller removes) with one patient and their medical history. */
export async function clinicWithPatient(
  dataDir: string,
): Promise<{ clinic: TestClinic; patientId: string; dentistUsername: string }> {
  const clinic = await createTestClinic({ dataDir });
  const dentistUsername = 'dentist.rao';
  const dentist = await clinic.signedInUser('Dentist', { username: dentistUsername });
  const patient = await dentist.ok('patients.create', { branchId: clinic.branchId, sex: 'female', ...PATIENT });
  await dentist.ok('patients.updateMedicalHistory', {
    patientId: patient.id,
    allergies: [{ substance: MEDICAL.allergy, severity: 'severe', reaction: MEDICAL.reaction }],
    conditions: [{ name: MEDICAL.condition, note: null }],
    medications: [{ name: MEDICAL.medication, dose: null }],
  });
  return { clinic, patientId: patient.id, dentistUsername };
}

let reopenCount = 0;

/** Opens the clinic in dataDir again, as the app does after a restart, with the given key provider. */
export function reopenClinic(dataDir: string, keyProvider: KeyProvider = testKeyProvider()): Promise<ClinicCore> {
  reopenCount++;
  return ClinicCore.open({
    dataDir,
    keyProvider,
    // New seed and a later clock: ids and tokens must not repeat those of the first run.
    sources: testSources(`encryption-reopen-${reopenCount}`, new ManualClock(Date.UTC(2026, 0, 6, 9, 0, 0))),
    bcryptCost: 4,
    rateLimits: { readsPerMinute: 100_000, writesPerMinute: 100_000, publicPerMinute: 100_000 },
  });
}

/** Signs the dentist in on core and reads the patient with the medical history. */
export async function readPatientAsDentist(core: ClinicCore, dentistUsername: string, patientId: string) {
  const dentist = new TestCaller(core);
  await dentist.ok('auth.signIn', { username: dentistUsername, password: USER_PASSWORD });
  return dentist.ok('patients.get', { patientId });
}

/** SHA-256 of every file in dir, by name. */
export function hashFiles(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [
        name,
        createHash('sha256')
          .update(readFileSync(join(dir, name)))
          .digest('hex'),
      ]),
  );
}

/** The database key, unwrapped from keys.json with the fixture's passphrase. */
export async function unwrapDatabaseKey(dataDir: string): Promise<Buffer> {
  const keyFile = readKeyFile(clinicPaths(dataDir).keys);
  return testKeyProvider().unwrap(keyFile.primary, keyFile.databaseId);
}
