/**
 * Search as you type over the FTS5 index: name prefixes (case- and accent-insensitive through
 * unicode61 remove_diacritics 2), phone digits, date of birth and patient number. The query is
 * turned into an FTS5 expression built only from letters and digits, and bound as a parameter.
 */
import type { PatientSearchResult } from '../../../shared/schemas/patients.js';
import type { ReadDb, WriteDb } from '../db/access.js';

/** What the index holds for one patient. */
export interface SearchDocument {
  readonly firstName: string;
  readonly lastName: string;
  readonly phone: string | null;
  readonly patientNumber: string;
  readonly dateOfBirth: string | null;
}

/** Phone tokens: all digits, and the last ten (the national number without a country code or trunk 0). */
export function phoneTokens(phone: string | null): string {
  if (!phone) return '';
  const digits = phone.replace(/\D/g, '');
  return digits.length > 10 ? `${digits} ${digits.slice(-10)}` : digits;
}

const DEVICE_NUMBER = /^P(\d+)-(\d+)$/i;

/**
 * Patient number tokens: the full number and the number without prefix or zero padding; a number
 * of device n (`P2-000001`, docs/sync-protocol.md "Domain conflicts") also as one token
 * `p2d000001`, since the tokenizer splits at the dash.
 */
export function numberTokens(patientNumber: string): string {
  const digits = patientNumber.replace(/\D/g, '').replace(/^0+/, '');
  const device = DEVICE_NUMBER.exec(patientNumber);
  return device ? `${patientNumber} ${digits} p${device[1]}d${device[2]}` : `${patientNumber} ${digits}`;
}

/** Puts a patient's row into the index (replacing what was there). */
export function indexPatient(db: WriteDb, rowid: number | bigint, doc: SearchDocument): void {
  db.command('DELETE FROM patients_fts WHERE rowid = ?').run([rowid]);
  db.command(INDEX_PATIENT_SQL).run([rowid, ...searchColumns(doc)]);
}

/** Adds one patient's row to the index, as indexPatient does, with `rowid` first and searchColumns after. */
export const INDEX_PATIENT_SQL = 'INSERT INTO patients_fts (rowid, name, phone, number, dob) VALUES (?, ?, ?, ?, ?)';

/** The index columns (name, phone, number, dob) of one patient's document. */
export function searchColumns(doc: SearchDocument): [string, string, string, string] {
  return [
    `${doc.firstName} ${doc.lastName}`,
    phoneTokens(doc.phone),
    numberTokens(doc.patientNumber),
    doc.dateOfBirth ? doc.dateOfBirth.replace(/-/g, '') : '',
  ];
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Day first, as written in India, the UK and most of the world. */
const DAY_FIRST_DATE = /^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$/;

/** The kind of search a query turned into, for the audit entry (never the query itself). */
export type SearchKind = 'name' | 'phone-or-number' | 'date-of-birth' | 'mixed' | 'empty';

/** Builds the FTS5 MATCH expression for what was typed, or null when nothing is searchable. */
export function buildMatchExpression(query: string): { expression: string; kind: SearchKind } | null {
  const kinds = new Set<SearchKind>();
  const parts: string[] = [];
  for (const raw of query.normalize('NFKC').trim().split(/\s+/).filter(Boolean).slice(0, 8)) {
    const iso = ISO_DATE.exec(raw);
    const dayFirst = DAY_FIRST_DATE.exec(raw);
    if (iso || dayFirst) {
      const [year, month, day] = iso ? [iso[1]!, iso[2]!, iso[3]!] : [dayFirst![3]!, dayFirst![2]!, dayFirst![1]!];
      parts.push(`dob:"${year}${month.padStart(2, '0')}${day.padStart(2, '0')}"`);
      kinds.add('date-of-birth');
      continue;
    }
    const digits = raw.replace(/[+()./-]/g, '');
    if (/^\d+$/.test(digits)) {
      parts.push(`(phone:"${digits}"* OR number:"${digits.replace(/^0+(?=\d)/, '')}"*)`);
      kinds.add('phone-or-number');
      continue;
    }
    // A device's number as typed so far: "P2-", "p2-0001", "P2-000001".
    const deviceNumber = /^p(\d+)-(\d*)$/i.exec(raw);
    if (deviceNumber) {
      parts.push(`number:"p${deviceNumber[1]}d${deviceNumber[2]}"*`);
      kinds.add('phone-or-number');
      continue;
    }
    if (/^p\d+$/i.test(raw)) {
      parts.push(`number:"${raw.toLowerCase()}"*`);
      kinds.add('phone-or-number');
      continue;
    }
    // Split as the unicode61 tokenizer does, so "O'Brien" and "Anne-Marie" match their tokens.
    for (const piece of raw.split(/[^\p{L}\p{N}]+/u).filter(Boolean)) {
      parts.push(`name:"${piece}"*`);
      kinds.add('name');
    }
  }
  if (parts.length === 0) return null;
  return { expression: parts.join(' AND '), kind: kinds.size === 1 ? [...kinds][0]! : 'mixed' };
}

/**
 * How many matches, newest first, are ranked. Ranking every match of a one-letter prefix scores
 * tens of thousands of rows at 100k patients (26 ms); ranking a bounded window keeps search as
 * you type under a few milliseconds. Queries with fewer matches than this are ranked in full.
 */
export const SEARCH_RANK_WINDOW = 300;

/**
 * The search query: FTS5 match joined to patients by rowid and scoped, the newest
 * SEARCH_RANK_WINDOW matches taken in rowid order (FTS5 stops early), then ranked by bm25.
 */
export const PATIENT_SEARCH_SQL = `SELECT id, patient_number, branch_id, first_name, last_name, date_of_birth, phone, archived_at
  FROM (
    SELECT p.id, p.patient_number, p.branch_id, p.first_name, p.last_name, p.date_of_birth, p.phone, p.archived_at,
      patients_fts.rank AS score
    FROM patients_fts
    JOIN patients p ON p.rowid = patients_fts.rowid
    WHERE patients_fts MATCH @expression
      AND (@includeArchived = 1 OR p.archived_at IS NULL)
      AND (@allBranches = 1 OR p.branch_id IN (SELECT value FROM json_each(@branchIds)))
    ORDER BY patients_fts.rowid DESC
    LIMIT ${SEARCH_RANK_WINDOW}
  )
  ORDER BY score
  LIMIT @limit`;

interface SearchRow {
  id: string;
  patient_number: string;
  branch_id: string;
  first_name: string;
  last_name: string;
  date_of_birth: string | null;
  phone: string | null;
  archived_at: number | null;
}

/** Searches patients within a branch scope (null: every branch), best matches first. */
export function searchPatients(
  db: ReadDb,
  query: string,
  options: { limit: number; includeArchived: boolean; branchIds: readonly string[] | null },
): { results: PatientSearchResult[]; kind: SearchKind } {
  const match = buildMatchExpression(query);
  if (!match) return { results: [], kind: 'empty' };
  const rows = db.query<SearchRow>(PATIENT_SEARCH_SQL).all({
    expression: match.expression,
    includeArchived: options.includeArchived ? 1 : 0,
    allBranches: options.branchIds === null ? 1 : 0,
    branchIds: JSON.stringify(options.branchIds ?? []),
    limit: options.limit,
  });
  return {
    kind: match.kind,
    results: rows.map((row) => ({
      id: row.id,
      patientNumber: row.patient_number,
      branchId: row.branch_id,
      firstName: row.first_name,
      lastName: row.last_name,
      dateOfBirth: row.date_of_birth,
      phone: row.phone,
      archived: row.archived_at !== null,
    })),
  };
}
