/**
 * The conflicts inbox (docs/sync-protocol.md, "Domain conflicts"): what sync could not settle on
 * its own and a person has to review. Nothing here is ever dropped by sync:
 * - `duplicates`: pairs of patients that look like the same person (same normalised last name,
 *   first name, date of birth and phone digits) or that carry the same patient number (rows from
 *   an older version or forged data); found on every device, resolved by `patients.merge` or
 *   dismissed with `conflicts.dismissDuplicate`.
 * - `fieldConflicts`: values that lost a concurrent edit (field-level last-writer-wins). Values
 *   of medical fields are shown only to roles holding medical.read, user fields never (they
 *   include the password hash); `hidden` says a value was withheld.
 * - `refused`: this device's changes the sync server refused or quarantined, with its reason.
 */
import { z } from 'zod';
import { idSchema, instantSchema, textSchema } from '../schemas/common.js';
import type { Permission } from '../permissions.js';
import { defineChannel } from './channel.js';

/** Why two patients were paired for review. */
export const duplicateReasonSchema = z.enum(['same-person', 'same-number']);
export type DuplicateReason = z.infer<typeof duplicateReasonSchema>;

/** Where a pair stands: open for review, merged (on any device), or dismissed as different people. */
export const duplicateStatusSchema = z.enum(['open', 'merged', 'dismissed']);
export type DuplicateStatus = z.infer<typeof duplicateStatusSchema>;

/** One side of a pair: enough for the front desk to tell the two records apart. */
export const duplicatePatientSchema = z.strictObject({
  id: idSchema,
  patientNumber: z.string(),
  branchId: idSchema,
  firstName: z.string(),
  lastName: z.string(),
  dateOfBirth: z.string().nullable(),
  phone: z.string().nullable(),
  archived: z.boolean(),
  /** The patient this record was merged into, when it was. */
  mergedInto: idSchema.nullable(),
  createdAt: instantSchema,
});
export type DuplicatePatient = z.infer<typeof duplicatePatientSchema>;

/** A pair of patients to review; `first.id` sorts before `second.id`. */
export const duplicatePairSchema = z.strictObject({
  reason: duplicateReasonSchema,
  status: duplicateStatusSchema,
  detectedAt: instantSchema,
  resolvedAt: instantSchema.nullable(),
  /** The user who merged or dismissed the pair on this device; null when open or merged elsewhere. */
  resolvedBy: idSchema.nullable(),
  first: duplicatePatientSchema,
  second: duplicatePatientSchema,
});
export type DuplicatePair = z.infer<typeof duplicatePairSchema>;

/** A field value as replicated (JSON scalars); null also when withheld (see `hidden`). */
const conflictValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One value that lost a concurrent edit, beside the value that won. */
export const fieldConflictSchema = z.strictObject({
  entity: z.string(),
  rowId: z.string(),
  field: z.string(),
  /** True for medical fields (patient_medical): their values need medical.read. */
  medical: z.boolean(),
  /** True when the values were withheld from this caller; both values are then null. */
  hidden: z.boolean(),
  losingValue: conflictValueSchema,
  winningValue: conflictValueSchema,
  /** The encoded hybrid logical clocks of the two writes (the later one won). */
  losingHlc: z.string(),
  winningHlc: z.string(),
  recordedAt: instantSchema,
});
export type FieldConflict = z.infer<typeof fieldConflictSchema>;

/** A change of this device the server refused or quarantined; field names only, never values. */
export const refusedChangeSchema = z.strictObject({
  changeId: z.string(),
  txId: z.string(),
  entity: z.string(),
  rowId: z.string(),
  op: z.enum(['insert', 'update', 'delete']),
  fields: z.array(z.string()),
  /** The server's reason code (for example `forbidden`, `invalid`, `foreign-number`). */
  code: z.string(),
  message: z.string(),
  refusedAt: instantSchema,
});
export type RefusedChange = z.infer<typeof refusedChangeSchema>;

export const conflictsListOutputSchema = z.strictObject({
  duplicates: z.array(duplicatePairSchema),
  fieldConflicts: z.array(fieldConflictSchema),
  refused: z.array(refusedChangeSchema),
});
export type ConflictsList = z.infer<typeof conflictsListOutputSchema>;

/** Withholds values the caller's role may not see: medical values without medical.read, user fields always. */
export function withoutHiddenConflictValues(
  output: ConflictsList,
  can: (permission: Permission) => boolean,
): ConflictsList {
  const mayReadMedical = can('medical.read');
  return {
    ...output,
    fieldConflicts: output.fieldConflicts.map((conflict) => {
      const visible = conflict.entity === 'user' ? false : conflict.medical ? mayReadMedical : true;
      return visible ? conflict : { ...conflict, hidden: true, losingValue: null, winningValue: null };
    }),
  };
}

export const conflictsList = defineChannel({
  name: 'conflicts.list',
  summary:
    'The conflicts inbox: possible duplicate patients, values that lost a concurrent edit (medical values for clinical roles only) and changes the server refused.',
  input: z.strictObject({
    /** Also list merged and dismissed pairs. */
    includeResolved: z.boolean().default(false),
    /** Most recent first, per list. */
    limit: z.number().int().min(1).max(500).default(200),
  }),
  output: conflictsListOutputSchema,
  permission: 'patients.read',
  writes: false,
  shape: withoutHiddenConflictValues,
  audit: { action: 'conflicts.list', entityType: 'patient', purpose: 'administration', legalBasis: 'healthcare' },
});

export const conflictsDismissDuplicate = defineChannel({
  name: 'conflicts.dismissDuplicate',
  summary: 'Marks an open pair of possible duplicates as different people (on this device); both records stay.',
  input: z.strictObject({
    firstId: idSchema,
    secondId: idSchema,
    reason: duplicateReasonSchema,
    note: textSchema(200),
  }),
  output: duplicatePairSchema,
  permission: 'patients.write',
  writes: true,
  audit: {
    action: 'conflicts.dismissDuplicate',
    entityType: 'patient',
    purpose: 'treatment',
    legalBasis: 'healthcare',
  },
});
