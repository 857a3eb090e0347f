/**
 * The registration form's warning "possible existing patient" (patients.findDuplicates): the
 * patients a new registration would pair with, found with the duplicate detection's own rules
 * (duplicate-key.ts) before the record exists. Candidates come from the search index (every name
 * token and the date of birth), so the check stays an index lookup at 100,000
 * patients; each is then compared exactly: same normalised first and last name and date of birth,
 * and, when both have a phone, the same duplicate key (the national number's last ten digits).
 */
import type { PatientSearchResult, PossibleDuplicateQuery } from '../../../shared/schemas/patients.js';
import type { ReadDb } from '../db/access.js';
import { duplicateKey, normaliseName, phoneKey } from './duplicate-key.js';

/** The most possible duplicates the form lists. */
export const POSSIBLE_DUPLICATES_LIMIT = 5;

interface CandidateRow {
  id: string;
  patient_number: string;
  branch_id: string;
  first_name: string;
  last_name: string;
  date_of_birth: string | null;
  phone: string | null;
  archived_at: number | null;
}

// Records merged into another one are left out: the survivor is the one to open.
const CANDIDATES_SQL = `SELECT p.id, p.patient_number, p.branch_id, p.first_name, p.last_name, p.date_of_birth, p.phone,
    p.archived_at
  FROM patients_fts
  JOIN patients p ON p.rowid = patients_fts.rowid
  WHERE patients_fts MATCH @expression
    AND p.merged_into IS NULL
    AND (@allBranches = 1 OR p.branch_id IN (SELECT value FROM json_each(@branchIds)))
  ORDER BY p.patient_number
  LIMIT 50`;

/** True when `candidate` is the same person by name and date of birth, and by phone when both have one. */
export function isPossibleDuplicate(query: PossibleDuplicateQuery, candidate: PossibleDuplicateQuery): boolean {
  if (candidate.dateOfBirth !== query.dateOfBirth) return false;
  if (normaliseName(candidate.firstName) !== normaliseName(query.firstName)) return false;
  if (normaliseName(candidate.lastName) !== normaliseName(query.lastName)) return false;
  const queryPhone = query.phone ? phoneKey(query.phone) : '';
  const candidatePhone = candidate.phone ? phoneKey(candidate.phone) : '';
  // A phone on only one side says nothing; on both, the duplicate key decides as the review pairs do.
  if (queryPhone.length < 6 || candidatePhone.length < 6) return true;
  return (
    duplicateKey({ ...query, phone: query.phone ?? null }) ===
    duplicateKey({ ...candidate, phone: candidate.phone ?? null })
  );
}

/** Patients in the branch scope (null: every branch) that a registration with these fields would duplicate. */
export function findPossibleDuplicates(
  db: ReadDb,
  query: PossibleDuplicateQuery,
  branchIds: readonly string[] | null,
): PatientSearchResult[] {
  // Split as patient-search.ts does (as the unicode61 tokenizer does); prefixes, since the exact
  // comparison below decides, and a tokenizer that folds a letter differently must not hide a match.
  const tokens = `${query.firstName} ${query.lastName}`
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, 8);
  if (tokens.length === 0) return [];
  const names = tokens.map((token) => `name:"${token}"*`);
  const expression = [...names, `dob:"${query.dateOfBirth.replace(/-/g, '')}"`].join(' AND ');
  return db
    .query<CandidateRow>(CANDIDATES_SQL)
    .all({ expression, allBranches: branchIds === null ? 1 : 0, branchIds: JSON.stringify(branchIds ?? []) })
    .filter((row) =>
      isPossibleDuplicate(query, {
        firstName: row.first_name,
        lastName: row.last_name,
        dateOfBirth: row.date_of_birth ?? '',
        phone: row.phone,
      }),
    )
    .slice(0, POSSIBLE_DUPLICATES_LIMIT)
    .map((row) => ({
      id: row.id,
      patientNumber: row.patient_number,
      branchId: row.branch_id,
      firstName: row.first_name,
      lastName: row.last_name,
      dateOfBirth: row.date_of_birth,
      phone: row.phone,
      archived: row.archived_at !== null,
    }));
}
