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

/** Demographic and contact fields a patient is created and edited with. */
export const patientDemographicsSchema = z.strictObject({
  firstName: textSchema(100),
  lastName: textSchema(100),
  dateOfBirth: isoDateSchema.nullable().optional(),
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
