import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestClinic, tempDataDir } from '../support/clinic-fixture.js';
import { MEDICAL, PATIENT, clinicWithPatient, unwrapDatabaseKey } from './encryption-helpers.js';

interface Secret {
  readonly label: string;
  readonly bytes: Buffer;
}

/** Every patient value as UTF-8 and UTF-16LE; names also lower-cased, as the search index stores its terms. */
function patientSecrets(): Secret[] {
  const texts = [
    ...Object.values(PATIENT),
    ...Object.values(MEDICAL),
    PATIENT.firstName.toLowerCase(),
    PATIENT.lastName.toLowerCase(),
    MEDICAL.allergy.toLowerCase(),
    PATIENT.phone.replace(/\D/g, ''),
    PATIENT.dateOfBirth.replace(/-/g, ''),
  ];
  return texts.flatMap((text) => [
    { label: `"${text}" (UTF-8)`, bytes: Buffer.from(text, 'utf8') },
    { label: `"${text}" (UTF-16LE)`, bytes: Buffer.from(text, 'utf16le') },
  ]);
}

/** "file: secret" for every secret found in a file of dir. */
function leaksIn(dir: string, secrets: readonly Secret[]): string[] {
  return readdirSync(dir).flatMap((name) => {
    const content = readFileSync(join(dir, name));
    return secrets.filter((secret) => content.includes(secret.bytes)).map((secret) => `${name}: ${secret.label}`);
  });
}

let temp: ReturnType<typeof tempDataDir>;
let clinic: TestClinic;

beforeEach(async () => {
  temp = tempDataDir();
  ({ clinic } = await clinicWithPatient(temp.dir));
});
afterEach(async () => {
  await clinic.close();
  temp.remove();
});

describe('clinic data at rest', () => {
  it('finds a leaked value in a file written in plain text, in UTF-8 and in UTF-16LE', () => {
    // The scan's own control: without this, a scan that never matches would pass every test below.
    const control = tempDataDir();
    try {
      writeFileSync(join(control.dir, 'plain-utf8'), `row:${PATIENT.lastName};`);
      writeFileSync(join(control.dir, 'plain-utf16'), Buffer.from(`row:${MEDICAL.allergy};`, 'utf16le'));
      expect(leaksIn(control.dir, patientSecrets())).toEqual([
        `plain-utf16: "${MEDICAL.allergy}" (UTF-16LE)`,
        `plain-utf8: "${PATIENT.lastName}" (UTF-8)`,
      ]);
    } finally {
      control.remove();
    }
  });

  it('keeps the database, its WAL and shared-memory files and the key file while the clinic is open', () => {
    expect(readdirSync(temp.dir).sort()).toEqual(['clinic.db', 'clinic.db-shm', 'clinic.db-wal', 'keys.json']);
    expect(statSync(join(temp.dir, 'clinic.db-wal')).size).toBeGreaterThan(0);
  });

  it('stores no patient value in any file while the clinic is open', () => {
    // The patient's rows are still in the WAL at this point, not yet checkpointed into clinic.db.
    expect(existsSync(join(temp.dir, 'clinic.db-wal'))).toBe(true);
    expect(leaksIn(temp.dir, patientSecrets())).toEqual([]);
  });

  it('stores no patient value in any file after the clinic is closed', async () => {
    await clinic.core.close();
    expect(readdirSync(temp.dir)).toContain('clinic.db');
    expect(leaksIn(temp.dir, patientSecrets())).toEqual([]);
  });

  it('stores the database key in no file, neither as raw bytes nor as hex', async () => {
    const key = await unwrapDatabaseKey(temp.dir);
    const secrets = [
      { label: 'raw key', bytes: key },
      { label: 'hex key', bytes: Buffer.from(key.toString('hex'), 'utf8') },
      { label: 'base64 key', bytes: Buffer.from(key.toString('base64'), 'utf8') },
    ];
    expect(leaksIn(temp.dir, secrets)).toEqual([]);
    await clinic.core.close();
    expect(leaksIn(temp.dir, secrets)).toEqual([]);
  });

  it('stores the recovery key in no file', async () => {
    const secrets = [
      { label: 'recovery key', bytes: Buffer.from(clinic.recoveryKey, 'utf8') },
      { label: 'recovery key without dashes', bytes: Buffer.from(clinic.recoveryKey.replace(/-/g, ''), 'utf8') },
      { label: 'recovery key (UTF-16LE)', bytes: Buffer.from(clinic.recoveryKey, 'utf16le') },
    ];
    expect(leaksIn(temp.dir, secrets)).toEqual([]);
    await clinic.core.close();
    expect(leaksIn(temp.dir, secrets)).toEqual([]);
  });
});
