/**
 * Finds and records pairs of patients to review (docs/sync-protocol.md, "Domain conflicts"):
 * the same person registered twice (same duplicate key) or two records with one patient number.
 * Run after every local create or edit of a patient and after every pulled patient change, in
 * the same transaction. Both queries use an index (patients_duplicate_key, patients_number), so
 * the check stays fast at 100,000 patients. Because every device eventually holds every row and
 * the key is derived from replicated fields only, every device records the same pairs; once a
 * `merged_into` link replicates, every device marks its pair merged.
 */
import type { DuplicateReason } from '../../../shared/api/conflicts.js';
import type { WriteDb } from '../db/access.js';
import { duplicateKey } from '../patients/duplicate-key.js';

interface PatientKeys {
  id: string;
  patient_number: string;
  first_name: string;
  last_name: string;
  date_of_birth: string | null;
  phone: string | null;
  merged_into: string | null;
  duplicate_key: string | null;
}

interface Candidate {
  id: string;
  merged_into: string | null;
}

/** The pair's ids in order (the table's primary key order). */
export function orderedPair(a: string, b: string): readonly [string, string] {
  return a < b ? [a, b] : [b, a];
}

/**
 * Refreshes the patient's duplicate key and records any new pair it forms; marks the pair with
 * the record it was merged into as merged. `resolvedBy` is the user who merged on this device,
 * null when the merge arrived from another device. Returns the number of new pairs.
 */
export function refreshPatientPairs(db: WriteDb, patientId: string, now: number, resolvedBy: string | null): number {
  const row = db
    .query<PatientKeys>(
      `SELECT id, patient_number, first_name, last_name, date_of_birth, phone, merged_into, duplicate_key
         FROM patients WHERE id = ?`,
    )
    .get([patientId]);
  if (!row) return 0;
  const key = duplicateKey({
    firstName: row.first_name,
    lastName: row.last_name,
    dateOfBirth: row.date_of_birth,
    phone: row.phone,
  });
  if (key !== row.duplicate_key) {
    db.command('UPDATE patients SET duplicate_key = ? WHERE id = ?').run([key, row.id]);
  }

  let added = 0;
  const insert = db.command(
    `INSERT INTO patient_duplicates (first_id, second_id, reason, detected_at) VALUES (?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const record = (others: readonly Candidate[], reason: DuplicateReason) => {
    for (const other of others) {
      const [first, second] = orderedPair(row.id, other.id);
      added += insert.run([first, second, reason, now]).changes;
      if (row.merged_into === other.id || other.merged_into === row.id) {
        markMerged(db, first, second, now, resolvedBy);
      }
    }
  };
  if (key !== null) {
    record(
      db
        .query<Candidate>('SELECT id, merged_into FROM patients WHERE duplicate_key = ? AND id <> ?')
        .all([key, row.id]),
      'same-person',
    );
  }
  record(
    db
      .query<Candidate>('SELECT id, merged_into FROM patients WHERE patient_number = ? AND id <> ?')
      .all([row.patient_number, row.id]),
    'same-number',
  );
  if (row.merged_into !== null) {
    // A merge of two records that were never paired (picked by hand) still shows as a merged pair.
    const [first, second] = orderedPair(row.id, row.merged_into);
    if (db.query('SELECT 1 FROM patients WHERE id = ?').get([row.merged_into])) {
      insert.run([first, second, 'same-person', now]);
      markMerged(db, first, second, now, resolvedBy);
    }
  }
  return added;
}

/** Every pair of these two records becomes merged (whatever it was: a merge outranks a dismissal). */
function markMerged(db: WriteDb, first: string, second: string, now: number, resolvedBy: string | null): void {
  db.command(
    `UPDATE patient_duplicates SET status = 'merged', resolved_at = ?, resolved_by = ?
      WHERE first_id = ? AND second_id = ? AND status <> 'merged'`,
  ).run([now, resolvedBy, first, second]);
}
