/** Patients: registration, search as you type, the record, medical history and archiving. */
import { z } from 'zod';
import { idSchema, instantSchema, textSchema } from '../schemas/common.js';
import {
  allergySchema,
  conditionSchema,
  medicalAlertSchema,
  medicalHistorySchema,
  medicationSchema,
  patientDemographicsSchema,
  patientRecordSchema,
  patientSearchResultSchema,
  possibleDuplicateQuerySchema,
} from '../schemas/patients.js';
import type { Permission } from '../permissions.js';
import { defineChannel } from './channel.js';

const patientAudit = { entityType: 'patient', purpose: 'treatment', legalBasis: 'healthcare' } as const;

/** Removes medical history and alerts for roles that may not read them (front desk, Admin). */
function withoutMedicalUnlessAllowed<R extends z.infer<typeof patientRecordSchema>>(
  record: R,
  can: (permission: Permission) => boolean,
): R {
  if (can('medical.read')) return record;
  const { medicalHistory: _history, alerts: _alerts, ...demographics } = record;
  return demographics as R;
}

/** A record merged into another one (patients.merge): kept with its history, listed on the survivor. */
export const mergedRecordSchema = z.strictObject({
  id: idSchema,
  patientNumber: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  archivedAt: instantSchema.nullable(),
});

/** The patient record as patients.get shows it: with merge links in both directions. */
export const patientProfileSchema = patientRecordSchema.extend({
  /** The record this one was merged into (it is then archived), or null. */
  mergedInto: idSchema.nullable(),
  /** The records merged into this one; their histories stay readable under their own ids. */
  mergedRecords: z.array(mergedRecordSchema),
});
export type PatientProfile = z.infer<typeof patientProfileSchema>;

export const patientsCreate = defineChannel({
  name: 'patients.create',
  summary: 'Registers a patient in a branch and allocates a patient number.',
  input: patientDemographicsSchema.extend({ branchId: idSchema }),
  output: patientRecordSchema,
  permission: 'patients.write',
  writes: true,
  branchOf: (input) => input.branchId,
  shape: withoutMedicalUnlessAllowed,
  audit: { action: 'patients.create', ...patientAudit },
});

export const patientsUpdate = defineChannel({
  name: 'patients.update',
  summary: "Changes a patient's demographic and contact fields (only the fields given).",
  input: patientDemographicsSchema.partial().extend({ patientId: idSchema }),
  output: patientRecordSchema,
  permission: 'patients.write',
  writes: true,
  shape: withoutMedicalUnlessAllowed,
  audit: { action: 'patients.update', ...patientAudit },
});

export const patientsGet = defineChannel({
  name: 'patients.get',
  summary: 'The patient record with its merge links; medical history and alerts for clinical roles only.',
  input: z.strictObject({ patientId: idSchema }),
  output: patientProfileSchema,
  permission: 'patients.read',
  writes: false,
  shape: withoutMedicalUnlessAllowed,
  audit: { action: 'patients.get', ...patientAudit },
});

/** The most patients a search lists, in pages (main/core/patients/patient-search.ts, SEARCH_RANK_WINDOW). */
export const SEARCH_MAX_LISTED = 300;

export const patientsSearch = defineChannel({
  name: 'patients.search',
  summary:
    'Search as you type by name prefix, phone (start or last digits), date of birth, birth year or patient number; ranked, in pages, with the number of matches.',
  input: z.strictObject({
    query: z.string().max(100),
    limit: z.number().int().min(1).max(50).default(20),
    /** Where the page starts in the ranked list: the screen's "Show more". */
    offset: z.number().int().min(0).max(SEARCH_MAX_LISTED).default(0),
    includeArchived: z.boolean().default(false),
  }),
  output: z.strictObject({
    results: z.array(patientSearchResultSchema),
    /** Patients matching, counted up to SEARCH_MAX_LISTED. */
    total: z.number().int().min(0),
    /** More than `total` patients match: refine the search. */
    capped: z.boolean(),
  }),
  permission: 'patients.read',
  writes: false,
  audit: { action: 'patients.search', ...patientAudit },
});

export const patientsFindDuplicates = defineChannel({
  name: 'patients.findDuplicates',
  summary:
    'Patients already registered with the same name and date of birth (and phone, when given): the registration form warns before creating a duplicate.',
  input: possibleDuplicateQuerySchema,
  output: z.strictObject({ matches: z.array(patientSearchResultSchema).max(5) }),
  permission: 'patients.read',
  writes: false,
  audit: { action: 'patients.findDuplicates', ...patientAudit },
});

export const patientsArchive = defineChannel({
  name: 'patients.archive',
  summary: 'Archives a patient (kept, hidden from default search); nothing clinical is deleted.',
  input: z.strictObject({ patientId: idSchema, reason: textSchema(200) }),
  output: patientRecordSchema,
  permission: 'patients.archive',
  writes: true,
  shape: withoutMedicalUnlessAllowed,
  audit: { action: 'patients.archive', ...patientAudit },
});

export const patientsUpdateMedicalHistory = defineChannel({
  name: 'patients.updateMedicalHistory',
  summary: "Replaces a patient's allergies, conditions and medications; returns the derived alerts.",
  input: z.strictObject({
    patientId: idSchema,
    allergies: z.array(allergySchema).max(50),
    conditions: z.array(conditionSchema).max(50),
    medications: z.array(medicationSchema).max(50),
  }),
  output: z.strictObject({ medicalHistory: medicalHistorySchema, alerts: z.array(medicalAlertSchema) }),
  permission: 'medical.write',
  writes: true,
  audit: { action: 'patients.updateMedicalHistory', ...patientAudit },
});

export const patientsMerge = defineChannel({
  name: 'patients.merge',
  summary:
    'Merges a duplicate record into the survivor: the duplicate is archived and linked (merged_into), never deleted; both histories stay readable.',
  input: z
    .strictObject({ survivorId: idSchema, duplicateId: idSchema, reason: textSchema(200) })
    .refine((input) => input.survivorId !== input.duplicateId, 'a patient cannot be merged into itself'),
  output: z.strictObject({ survivor: patientProfileSchema, duplicate: patientProfileSchema }),
  // Merging archives the duplicate, so it needs what archiving needs, plus a fresh re-authentication.
  permission: 'patients.archive',
  reauth: true,
  writes: true,
  shape: (output, can) => ({
    survivor: withoutMedicalUnlessAllowed(output.survivor, can),
    duplicate: withoutMedicalUnlessAllowed(output.duplicate, can),
  }),
  audit: { action: 'patients.merge', ...patientAudit },
});
