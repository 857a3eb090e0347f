/**
 * A patient's medical history (table patient_medical): one row per patient (row id = patient id);
 * each list is one field holding its JSON text, so a list changes as a whole under last-writer-wins.
 */
import { z } from 'zod';
import { allergySchema, conditionSchema, medicationSchema } from '../../schemas/patients.js';
import { type EntityDeclaration, jsonText } from './declaration.js';

export const patientMedicalEntity = {
  kind: 'mutable',
  table: 'patient_medical',
  key: 'patient_id',
  fields: {
    allergies: { value: jsonText(z.array(allergySchema).max(50)), words: 'Allergies' },
    conditions: { value: jsonText(z.array(conditionSchema).max(50)), words: 'Conditions' },
    medications: { value: jsonText(z.array(medicationSchema).max(50)), words: 'Medications' },
  },
  localStamp: 'both',
  appliedOnDevices: true,
  writePermissions: () => ['medical.write'],
  branch: { kind: 'patient', needsPatient: true },
  words: 'Medical history',
  retention: 'clinical-record',
  // Attributed to whoever last wrote it (only medical.write holders can), so the server's
  // permission check sees the real author.
  upload: { order: 3, authorColumn: 'updated_by' },
} as const satisfies EntityDeclaration;
