/** Patients and their medical history as the API exposes them. */
import { z } from 'zod';
import { idSchema, instantSchema, isoDateSchema, optionalTextSchema, textSchema } from './common.js';

export const sexSchema = z.enum(['female', 'male', 'other', 'unknown']);

/** A phone number as typed: digits with the usual separators and an optional leading +. */
export const phoneSchema = z
  .string()
  .trim()
  .regex(/^\+?[0-9 ()./-]{6,24}$/, 'must be a phone number')
  .refine((value) => value.replace(/\D/g, '').length >= 6, 'must have at least 6 digits');

export const allergySchema = z.strictObject({
  substance: textSchema(120),
  severity: z.enum(['mild', 'moderate', 'severe', 'unknown']),
  reaction: optionalTextSchema(300),
});
export const conditionSchema = z.strictObject({
  name: textSchema(120),
  note: optionalTextSchema(300),
});
export const medicationSchema = z.strictObject({
  name: textSchema(120),
  dose: optionalTextSchema(120),
});

export const medicalHistorySchema = z.strictObject({
  allergies: z.array(allergySchema).max(50),
  conditions: z.array(conditionSchema).max(50),
  medications: z.array(medicationSchema).max(50),
  updatedAt: instantSchema.nullable(),
});
export type MedicalHistory = z.infer<typeof medicalHistorySchema>;

export const medicalAlertSchema = z.strictObject({
  kind: z.enum(['allergy', 'anticoagulant', 'condition', 'medication']),
  severity: z.enum(['warning', 'critical']),
  label: z.string(),
});
export type MedicalAlert = z.infer<typeof medicalAlertSchema>;

/** The oldest a patient may be registered as: an older date of birth is a typing error (a wrong century). */
export const OLDEST_AGE_YEARS = 120;

/** Today's calendar date where the code runs (the clinic's local date), as `YYYY-MM-DD`. */
export function localIsoDate(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${String(date.getFullYear()).padStart(4, '0')}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * Why an ISO date of birth cannot be right on `today` (an ISO date), or null when it can: it is
 * in the future, or more than OLDEST_AGE_YEARS years ago. Today itself is allowed (a newborn).
 */
export function dateOfBirthProblem(dateOfBirth: string, today: string): string | null {
  if (dateOfBirth > today) return 'Date of birth cannot be in the future.';
  const oldest = `${String(Number(today.slice(0, 4)) - OLDEST_AGE_YEARS).padStart(4, '0')}${today.slice(4)}`;
  if (dateOfBirth < oldest) return `Date of birth cannot be more than ${OLDEST_AGE_YEARS} years ago.`;
  return null;
}

/**
 * A date of birth as registration takes it. The rule depends on "now", so it belongs to the API
 * input only: the sync declaration (shared/sync/entities/patient.ts) keeps the plain ISO date, so
 * the server's re-validation of old changes never refuses a row that was valid when written. Here
 * the clock is the one where the schema runs (the renderer's check as you type, the pipeline's
 * parse); the handlers check again against their injected clock.
 */
export const dateOfBirthSchema = isoDateSchema.superRefine((value, ctx) => {
  const problem = dateOfBirthProblem(value, localIsoDate(Date.now()));
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Demographic and contact fields a patient is created and edited with. */
export const patientDemographicsSchema = z.strictObject({
  firstName: textSchema(100),
  lastName: textSchema(100),
  dateOfBirth: dateOfBirthSchema.nullable().optional(),
  sex: sexSchema.optional(),
  phone: phoneSchema.nullable().optional(),
  email: z.email().max(200).nullable().optional(),
  address: optionalTextSchema(300),
});
export type PatientDemographics = z.infer<typeof patientDemographicsSchema>;

/** A patient as returned by patients.get; medical fields only for roles that may read them. */
export const patientRecordSchema = z.strictObject({
  id: idSchema,
  patientNumber: z.string(),
  branchId: idSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string().nullable(),
  sex: sexSchema,
  phone: z.string().nullable(),
  email: z.string().nullable(),
  address: z.string().nullable(),
  archivedAt: instantSchema.nullable(),
  createdAt: instantSchema,
  updatedAt: instantSchema,
  medicalHistory: medicalHistorySchema.optional(),
  alerts: z.array(medicalAlertSchema).optional(),
});
export type PatientRecord = z.infer<typeof patientRecordSchema>;

/** One search hit: enough to pick the right patient at the front desk. */
export const patientSearchResultSchema = z.strictObject({
  id: idSchema,
  patientNumber: z.string(),
  branchId: idSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string().nullable(),
  phone: z.string().nullable(),
  archived: z.boolean(),
});
export type PatientSearchResult = z.infer<typeof patientSearchResultSchema>;

/** Registration fields as typed so far, checked for a patient already registered (patients.findDuplicates). */
export const possibleDuplicateQuerySchema = z.strictObject({
  firstName: textSchema(100),
  lastName: textSchema(100),
  dateOfBirth: isoDateSchema,
  phone: phoneSchema.nullable().optional(),
});
export type PossibleDuplicateQuery = z.infer<typeof possibleDuplicateQuerySchema>;
