/**
 * The demo's patients are read by a clinic owner trying the app: over many seeds and patients,
 * every record must be one a clinic could hold. The rules are written out here, apart from the
 * generator's own tables, so a table that drifts fails them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SyntheticPatient, generatePatients } from './synthetic-patients.js';

const BASE_TIME = Date.UTC(2024, 0, 1);

/** Whole years at the base time. */
function ageOf(patient: SyntheticPatient): number | null {
  if (patient.dateOfBirth === null) return null;
  const [year, month, day] = patient.dateOfBirth.split('-').map(Number) as [number, number, number];
  const base = new Date(BASE_TIME);
  const hadBirthday = base.getUTCMonth() + 1 > month || (base.getUTCMonth() + 1 === month && base.getUTCDate() >= day);
  return base.getUTCFullYear() - year - (hadBirthday ? 0 : 1);
}

/** Usual adult doses in mg (mcg for levothyroxine and salbutamol), per medicine, lower-cased. */
const USUAL_DOSES: Record<string, { unit: 'mg' | 'mcg'; min: number; max: number }> = {
  metformin: { unit: 'mg', min: 500, max: 1000 },
  amlodipine: { unit: 'mg', min: 2.5, max: 10 },
  atorvastatin: { unit: 'mg', min: 10, max: 80 },
  levothyroxine: { unit: 'mcg', min: 25, max: 200 },
  warfarin: { unit: 'mg', min: 1, max: 10 },
  clopidogrel: { unit: 'mg', min: 75, max: 75 },
  alendronate: { unit: 'mg', min: 10, max: 70 },
  'folic acid': { unit: 'mg', min: 0.4, max: 5 },
  'salbutamol inhaler': { unit: 'mcg', min: 100, max: 200 },
};

/** Which condition a medicine is taken for: a medicine never appears without its reason. */
const TAKEN_FOR: Record<string, RegExp> = {
  metformin: /diabetes/i,
  amlodipine: /hypertension/i,
  atorvastatin: /cholesterol/i,
  levothyroxine: /hypothyroid/i,
  warfarin: /valve/i,
  clopidogrel: /stent|coronary/i,
  alendronate: /osteoporosis/i,
  'folic acid': /pregnan/i,
  'salbutamol inhaler': /asthma/i,
};

/** The reasons a record is not believable; empty when it is. */
function implausibilities(patient: SyntheticPatient): string[] {
  const problems: string[] = [];
  const medical = patient.medical;
  if (medical === null) return problems;
  const age = ageOf(patient);
  const label = `${patient.patientNumber} (${patient.sex}, ${age ?? 'no date of birth'})`;
  for (const { name } of medical.conditions) {
    if (age === null) problems.push(`${label}: ${name} without an age to fit it`);
    if (/pregnan/i.test(name) && (patient.sex !== 'female' || age === null || age < 15 || age > 45)) {
      problems.push(`${label}: pregnant`);
    }
    if (/osteoporosis/i.test(name) && (age === null || age < 45)) problems.push(`${label}: ${name}`);
    if (/diabetes|hypertension|cholesterol|valve|stent|coronary/i.test(name) && (age === null || age < 18)) {
      problems.push(`${label}: ${name} in a child`);
    }
  }
  for (const { name, dose } of medical.medications) {
    const key = name.toLowerCase();
    const usual = USUAL_DOSES[key];
    if (!usual) {
      problems.push(`${label}: ${name} has no known usual dose`);
      continue;
    }
    const amount =
      dose === null || dose === undefined ? null : new RegExp(`^(\\d+(?:\\.\\d+)?) ${usual.unit}\\b`).exec(dose);
    const value = amount ? Number(amount[1]) : NaN;
    if (!(value >= usual.min && value <= usual.max)) problems.push(`${label}: ${name} ${dose ?? '(no dose)'}`);
    if (!medical.conditions.some((condition) => TAKEN_FOR[key]!.test(condition.name))) {
      problems.push(`${label}: ${name} without the condition it treats`);
    }
    if (age === null || age < 5) problems.push(`${label}: ${name} for a patient aged ${age ?? 'unknown'}`);
  }
  return problems;
}

describe('generatePatients', () => {
  it('gives every patient conditions that fit their sex and age, and medicines at usual doses for a recorded condition', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }), (seed) => {
        const problems = generatePatients(400, seed, BASE_TIME).flatMap(implausibilities);
        expect(problems).toEqual([]);
      }),
      { numRuns: 50 },
    );
  });

  it('still records conditions and medicines for a good share of patients', () => {
    const patients = generatePatients(3000, 'chairside-demo', BASE_TIME);
    const withCondition = patients.filter((patient) => (patient.medical?.conditions.length ?? 0) > 0).length;
    const withMedication = patients.filter((patient) => (patient.medical?.medications.length ?? 0) > 0).length;
    expect(withCondition).toBeGreaterThan(300);
    expect(withMedication).toBeGreaterThan(200);
    expect(patients.some((patient) => patient.medical?.conditions.some((c) => /pregnan/i.test(c.name)))).toBe(true);
  });

  it('gives the same patients for the same seed', () => {
    expect(generatePatients(500, 'same-seed', BASE_TIME)).toEqual(generatePatients(500, 'same-seed', BASE_TIME));
    expect(generatePatients(50, 'one-seed', BASE_TIME)).not.toEqual(generatePatients(50, 'another-seed', BASE_TIME));
  });
});
