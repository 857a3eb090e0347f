/** Unlocking the clinic: a wrong passphrase changes nothing; the recovery key replaces a lost passphrase. */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClinicCore } from '../../main/core/clinic-core.js';
import { clinicPaths, recoverClinicKey } from '../../main/core/clinic-files.js';
import { readKeyFile } from '../../main/core/keys/key-file.js';
import { generateRecoveryKey } from '../../main/core/keys/recovery-key.js';
import { KeyUnwrapError } from '../../main/core/keys/wrapped-key.js';
import { cryptoRandom } from '../../main/core/platform/sources.js';
import { type TestClinic, tempDataDir, testKeyProvider } from '../support/clinic-fixture.js';
import {
  MEDICAL,
  PATIENT,
  clinicWithPatient,
  hashFiles,
  readPatientAsDentist,
  reopenClinic,
} from './encryption-helpers.js';

const NEW_PASSPHRASE = 'a brand new passphrase after the old one was lost';

let temp: ReturnType<typeof tempDataDir>;
let clinic: TestClinic;
let patientId: string;
let dentistUsername: string;
const reopened: ClinicCore[] = [];

beforeEach(async () => {
  temp = tempDataDir();
  ({ clinic, patientId, dentistUsername } = await clinicWithPatient(temp.dir));
  await clinic.core.close();
});
afterEach(async () => {
  for (const core of reopened.splice(0)) await core.close();
  await clinic.close();
  temp.remove();
});

/** Reopens the clinic and closes it after the test. */
async function reopen(passphrase?: string): Promise<ClinicCore> {
  const core = await reopenClinic(temp.dir, passphrase === undefined ? testKeyProvider() : testKeyProvider(passphrase));
  reopened.push(core);
  return core;
}

const keysJson = () => readFileSync(clinicPaths(temp.dir).keys);

describe('opening the clinic with a wrong passphrase', () => {
  it('rejects with KeyUnwrapError saying the passphrase is incorrect', async () => {
    const opening = reopen('not the clinic passphrase');
    await expect(opening).rejects.toBeInstanceOf(KeyUnwrapError);
    await expect(opening).rejects.toThrow('The database passphrase is incorrect.');
  });

  it('leaves every file byte-identical and adds none', async () => {
    const before = hashFiles(temp.dir);
    await expect(reopen('not the clinic passphrase')).rejects.toThrow(KeyUnwrapError);
    expect(hashFiles(temp.dir)).toEqual(before);
  });

  it('still lets the right passphrase open the clinic and find the patient', async () => {
    await expect(reopen('not the clinic passphrase')).rejects.toThrow(KeyUnwrapError);
    const core = await reopen();
    const patient = await readPatientAsDentist(core, dentistUsername, patientId);
    expect([patient.firstName, patient.lastName]).toEqual([PATIENT.firstName, PATIENT.lastName]);
  });
});

describe('recoverClinicKey', () => {
  // The clinic's passphrase is lost: only the recovery key printed at setup remains.
  const recover = (recoveryKey = clinic.recoveryKey) =>
    recoverClinicKey(temp.dir, recoveryKey, testKeyProvider(NEW_PASSPHRASE), cryptoRandom);

  it('lets a new passphrase open the clinic with the patient and their medical history', async () => {
    await recover();
    const core = await reopen(NEW_PASSPHRASE);
    const patient = await readPatientAsDentist(core, dentistUsername, patientId);
    expect(patient.lastName).toBe(PATIENT.lastName);
    expect(patient.medicalHistory?.allergies.map((allergy) => allergy.substance)).toEqual([MEDICAL.allergy]);
  });

  it('stops the old passphrase from opening the clinic', async () => {
    await recover();
    await expect(reopen()).rejects.toThrow(new KeyUnwrapError('The database passphrase is incorrect.'));
  });

  it('accepts the recovery key as typed from paper: lower case, spaces for dashes', async () => {
    await recover(clinic.recoveryKey.toLowerCase().replace(/-/g, ' '));
    await expect(reopen(NEW_PASSPHRASE)).resolves.toBeDefined();
  });

  it('keeps the recovery wrapping, so the same recovery key works again later', async () => {
    const recoveryBefore = readKeyFile(clinicPaths(temp.dir).keys).recovery;
    await recover();
    expect(readKeyFile(clinicPaths(temp.dir).keys).recovery).toEqual(recoveryBefore);
    await expect(recover()).resolves.toBeUndefined();
  });

  it('leaves the database file byte-identical', async () => {
    const before = hashFiles(temp.dir)['clinic.db'];
    await recover();
    expect(hashFiles(temp.dir)['clinic.db']).toBe(before);
  });

  it('refuses a wrong recovery key saying it is incorrect', async () => {
    const recovering = recover(generateRecoveryKey(cryptoRandom));
    await expect(recovering).rejects.toBeInstanceOf(KeyUnwrapError);
    await expect(recovering).rejects.toThrow('The recovery key is incorrect.');
  });

  it('leaves keys.json unchanged when the recovery key is wrong', async () => {
    const before = keysJson();
    await expect(recover(generateRecoveryKey(cryptoRandom))).rejects.toThrow(KeyUnwrapError);
    expect(keysJson()).toEqual(before);
  });

  it('refuses text that is not a recovery key, saying what one looks like', async () => {
    const before = keysJson();
    await expect(recover('I forgot it')).rejects.toThrow(
      'That is not a recovery key: expect 52 letters and digits in groups of four.',
    );
    expect(keysJson()).toEqual(before);
  });

  it('lets the old passphrase still open the clinic after a refused recovery', async () => {
    await expect(recover(generateRecoveryKey(cryptoRandom))).rejects.toThrow(KeyUnwrapError);
    await expect(reopen()).resolves.toBeDefined();
  });
});
