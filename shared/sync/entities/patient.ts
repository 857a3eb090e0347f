/** The patient register's rows (table patients): demographics, contact, archive and merge state. */
import { z } from 'zod';
import { idSchema, instantSchema, isoDateSchema, textSchema } from '../../schemas/common.js';
import { phoneSchema, sexSchema } from '../../schemas/patients.js';
import { type EntityDeclaration, setsAny } from './declaration.js';

/** A patient number as devices allocate them (main/core/patients/patient-number.ts): P000001, P2-000001. */
export const patientNumberSchema = z.string().regex(/^P(?:[1-9][0-9]{0,6}-)?[0-9]{6,}$/, 'not a patient number');

// A merge (merged_into) archives the duplicate, so it needs what archiving needs.
const ARCHIVE_FIELDS: ReadonlySet<string> = new Set(['archived_at', 'archive_reason', 'merged_into']);

export const patientEntity = {
  kind: 'mutable',
  table: 'patients',
  key: 'id',
  fields: {
    patient_number: { value: patientNumberSchema, words: 'Patient number' },
    branch_id: { value: idSchema, words: 'Branch' },
    first_name: { value: textSchema(100), words: 'First name' },
    last_name: { value: textSchema(100), words: 'Last name' },
    date_of_birth: { value: isoDateSchema.nullable(), words: 'Date of birth' },
    sex: { value: sexSchema, words: 'Sex' },
    phone: { value: phoneSchema.nullable(), words: 'Phone' },
    email: { value: z.email().max(200).nullable(), words: 'Email' },
    address: { value: z.string().trim().max(300).nullable(), words: 'Address' },
    archived_at: { value: instantSchema.nullable(), words: 'Archived' },
    // The API's reason (200 characters) or the merge's reason with the survivor's number before it.
    archive_reason: { value: z.string().max(400).nullable(), words: 'Archive reason' },
    // The record this one was merged into (patients.merge): replicated so every device marks
    // the pair merged and links the two records.
    merged_into: { value: idSchema.nullable(), words: 'Merged into', addedLater: true },
    created_at: { value: instantSchema, words: 'Created' },
    created_by: { value: idSchema, words: 'Created by' },
  },
  localStamp: 'both',
  appliedOnDevices: true,
  // Archiving is an update of a patient: it needs patients.write and, for the archive fields, patients.archive.
  writePermissions: (change) =>
    setsAny(change, ARCHIVE_FIELDS) ? ['patients.write', 'patients.archive'] : ['patients.write'],
  branch: { kind: 'patient', branchField: 'branch_id' },
  words: 'Patient',
  retention: 'clinical-record',
  upload: { order: 2 },
} as const satisfies EntityDeclaration;
