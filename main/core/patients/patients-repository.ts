/** Queries on patients and their medical history. */
import { z } from 'zod';
import { medicalAlertsFor } from '../../../shared/medical-alerts.js';
import {
  type MedicalHistory,
  type PatientRecord,
  allergySchema,
  conditionSchema,
  medicationSchema,
} from '../../../shared/schemas/patients.js';
import type { PatientProfile } from '../../../shared/api/patients.js';
import type { ReadDb, WriteDb } from '../db/access.js';

export interface PatientRow {
  rowid: number;
  id: string;
  patient_number: string;
  branch_id: string;
  first_name: string;
  last_name: string;
  date_of_birth: string | null;
  sex: PatientRecord['sex'];
  phone: string | null;
  email: string | null;
  address: string | null;
  archived_at: number | null;
  archive_reason: string | null;
  merged_into: string | null;
  duplicate_key: string | null;
  created_at: number;
  created_by: string;
  updated_at: number;
  updated_by: string;
}

interface MedicalRow {
  allergies: string;
  conditions: string;
  medications: string;
  updated_at: number;
}

export function findPatient(db: ReadDb, id: string): PatientRow | undefined {
  return db.query<PatientRow>('SELECT rowid, * FROM patients WHERE id = ?').get([id]);
}

// Stored JSON is parsed with the shared schemas: the database is ours, but a schema change or a
// damaged row must fail loudly rather than hand malformed data to a clinician.
const storedList = <T extends z.ZodType>(schema: T) => z.array(schema);

/** A patient's medical history (empty lists when none was recorded). */
export function readMedicalHistory(db: ReadDb, patientId: string): MedicalHistory {
  const row = db
    .query<MedicalRow>(
      'SELECT allergies, conditions, medications, updated_at FROM patient_medical WHERE patient_id = ?',
    )
    .get([patientId]);
  if (!row) return { allergies: [], conditions: [], medications: [], updatedAt: null };
  return {
    allergies: storedList(allergySchema).parse(JSON.parse(row.allergies)),
    conditions: storedList(conditionSchema).parse(JSON.parse(row.conditions)),
    medications: storedList(medicationSchema).parse(JSON.parse(row.medications)),
    updatedAt: row.updated_at,
  };
}

/** Replaces a patient's medical history. */
export function writeMedicalHistory(
  db: WriteDb,
  patientId: string,
  history: Omit<MedicalHistory, 'updatedAt'>,
  userId: string,
  now: number,
): void {
  db.command(
    `INSERT INTO patient_medical (patient_id, allergies, conditions, medications, updated_at, updated_by)
     VALUES (@patientId, @allergies, @conditions, @medications, @now, @userId)
     ON CONFLICT (patient_id) DO UPDATE SET allergies = excluded.allergies, conditions = excluded.conditions,
       medications = excluded.medications, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  ).run({
    patientId,
    allergies: JSON.stringify(history.allergies),
    conditions: JSON.stringify(history.conditions),
    medications: JSON.stringify(history.medications),
    now,
    userId,
  });
}

/** The API view of a patient; medical history only when asked for (clinical roles). */
export function toPatientRecord(db: ReadDb, row: PatientRow, withMedical: boolean): PatientRecord {
  const record: PatientRecord = {
    id: row.id,
    patientNumber: row.patient_number,
    branchId: row.branch_id,
    firstName: row.first_name,
    lastName: row.last_name,
    dateOfBirth: row.date_of_birth,
    sex: row.sex,
    phone: row.phone,
    email: row.email,
    address: row.address,
    archivedAt: row.archived_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (withMedical) {
    const history = readMedicalHistory(db, row.id);
    record.medicalHistory = history;
    record.alerts = medicalAlertsFor(history);
  }
  return record;
}

/** The API view with merge links: the record it was merged into, and the records merged into it. */
export function toPatientProfile(db: ReadDb, row: PatientRow, withMedical: boolean): PatientProfile {
  const mergedRecords = db
    .query<{ id: string; patient_number: string; first_name: string; last_name: string; archived_at: number | null }>(
      `SELECT id, patient_number, first_name, last_name, archived_at FROM patients
        WHERE merged_into = ? ORDER BY patient_number, id`,
    )
    .all([row.id])
    .map((merged) => ({
      id: merged.id,
      patientNumber: merged.patient_number,
      firstName: merged.first_name,
      lastName: merged.last_name,
      archivedAt: merged.archived_at,
    }));
  return { ...toPatientRecord(db, row, withMedical), mergedInto: row.merged_into, mergedRecords };
}
