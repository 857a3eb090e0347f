/**
 * The patients domain's replication hooks (sync/replication-hooks.ts): after a pulled change wrote
 * a patient, its search index entry is rebuilt and it is checked for a duplicate. A pulled patient
 * may be a second registration of someone, or carry a number another record holds (data of an
 * older version): kept, and paired for review on every device (conflicts/patient-pairs.ts). A join
 * does the same once per patient, over the whole clinic held in memory (bulkPatientJoin).
 */
import type { WriteDb } from '../db/access.js';
import { refreshPatientPairs } from '../conflicts/patient-pairs.js';
import { PatientPairsInMemory } from '../conflicts/patient-pairs-memory.js';
import type { BulkJoinWriter, EntityHooks } from '../sync/replication-hooks.js';
import { duplicateKey } from './duplicate-key.js';
import { INDEX_PATIENT_SQL, indexPatient, searchColumns } from './patient-search.js';

/** Rebuilds one patient's search index entry from its row. */
function reindexPatient(db: WriteDb, patientId: string): void {
  const row = db
    .query<{
      rowid: number;
      first_name: string;
      last_name: string;
      phone: string | null;
      patient_number: string;
      date_of_birth: string | null;
    }>('SELECT rowid, first_name, last_name, phone, patient_number, date_of_birth FROM patients WHERE id = ?')
    .get([patientId]);
  if (!row) return;
  indexPatient(db, row.rowid, {
    firstName: row.first_name,
    lastName: row.last_name,
    phone: row.phone,
    patientNumber: row.patient_number,
    dateOfBirth: row.date_of_birth,
  });
}

/** The keys the review pairs compare, from a patient's table row as a join holds it. */
function patientKeysOf(id: string, row: Readonly<Record<string, unknown>>) {
  return {
    id,
    patientNumber: row.patient_number as string,
    mergedInto: (row.merged_into as string | null) ?? null,
    duplicateKey: duplicateKey({
      firstName: row.first_name as string,
      lastName: row.last_name as string,
      dateOfBirth: (row.date_of_birth as string | null) ?? null,
      phone: (row.phone as string | null) ?? null,
    }),
  };
}

/**
 * A join's patients: review pairs found over the whole clinic in memory, each row's duplicate key
 * written with it, its search index entry written right after it, the pairs once at the end.
 */
function bulkPatientJoin(): BulkJoinWriter {
  const pairs = new PatientPairsInMemory();
  return {
    rowChanged: (rowId, row) => pairs.refresh(rowId, patientKeysOf(rowId, row)),
    extraColumns: ['duplicate_key'],
    extraValues: (rowId) => ({ duplicate_key: pairs.keyOf(rowId) }),
    inserted: (db, rowid, row) => {
      db.command(INDEX_PATIENT_SQL).run([
        rowid,
        ...searchColumns({
          firstName: row.first_name as string,
          lastName: row.last_name as string,
          phone: (row.phone as string | null) ?? null,
          patientNumber: row.patient_number as string,
          dateOfBirth: (row.date_of_birth as string | null) ?? null,
        }),
      ]);
    },
    finish: (db, now) => pairs.write(db, now),
  };
}

/** The patient entity's hooks. */
export const patientReplicationHooks: EntityHooks<'patient'> = {
  afterWrite: (db, change, _merged, now) => {
    reindexPatient(db, change.rowId);
    refreshPatientPairs(db, change.rowId, now, null);
  },
  bulkJoin: bulkPatientJoin,
};
