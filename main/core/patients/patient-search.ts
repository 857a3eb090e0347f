/**
 * Search as you type over the FTS5 index: name prefixes (case- and accent-insensitive through
 * unicode61 remove_diacritics 2), phone digits, date of birth and patient number. The query is
 * turned into an FTS5 expression built only from letters and digits, and bound as a parameter.
 */
import { SEARCH_MAX_LISTED } from '../../../shared/api/patients.js';
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

/**
 * Phone tokens: all digits, the last ten (the national number without a country code or trunk 0),
 * and those ten reversed behind an `r` (`r4957287387`), so that a prefix query on the reversed
 * token finds a number by its last digits ("27594" for 7837827594): FTS5 matches prefixes only.
 */
export function phoneTokens(phone: string | null): string {
  if (!phone) return '';
  const digits = phone.replace(/\D/g, '');
  if (digits === '') return '';
  const national = digits.slice(-10);
  const reversed = `r${[...national].reverse().join('')}`;
  return digits.length > 10 ? `${digits} ${national} ${reversed}` : `${digits} ${reversed}`;
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

/** Patient numbers are zero-padded to six digits (patient-number.ts). */
const pad = (digits: string) => digits.padStart(6, '0');
const withoutLeadingZeros = (digits: string) => digits.replace(/^0+/, '');
const reversed = (digits: string) => [...digits].reverse().join('');

const ISO_DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
/** Year and month, ISO: "2003-02". */
const ISO_MONTH = /^(\d{4})-(\d{2})$/;
/** Day first, as written in India, the UK and most of the world: 15/02/2003, 15-02-2003, 15.02.2003. */
const DAY_FIRST_DATE = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/;
/** The app's own display format (renderer/lib/format.ts): "15 Feb 2003", also "15-Feb-2003", "15 February 2003". */
const NAMED_MONTH_DATE = /(^|\s)(\d{1,2})[\s-]+(\p{L}{3,9})\.?[\s-]+(\d{4})(?=\s|$)/giu;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/**
 * A four-digit number from 1900 to 2099 is a year of birth, never a patient number or phone
 * digits: "2003" finds births in 2003. Patient P002003 is found as "P2003" or "002003".
 */
const BIRTH_YEAR = /^(?:19|20)\d{2}$/;
/** A query that is one phone number typed in groups ("78378 27594", "0 78378 27594"), at least 6 digits. */
const GROUPED_DIGITS = /^[\d()./-]+(?:\s+[\d()./-]+)+$/;
/** "P12", "p000012": device 1's number 12 (P000012), or the start of a number being typed. */
const OWN_NUMBER_QUERY = /^p(\d+)$/i;
/** "P2-12", "p2-000012", "P2-": a number of device 2 (P2-000012), or the start of one. */
const DEVICE_NUMBER_QUERY = /^p(\d+)-(\d*)$/i;

/** The kind of search a query turned into, for the audit entry (never the query itself). */
export type SearchKind = 'name' | 'phone-or-number' | 'date-of-birth' | 'mixed' | 'empty';

/** What buildMatchExpression makes of a query. */
export interface MatchExpression {
  /** The FTS5 MATCH expression, built only from letters, digits and FTS5 syntax. */
  readonly expression: string;
  readonly kind: SearchKind;
  /** The patient number the whole query names ("P12", "12", "P2-12"), listed first when it exists. */
  readonly exactNumber: string | null;
}

/** A date's index token (YYYYMMDD), or null when the parts are not a calendar date. */
function dobToken(year: string, month: string, day: string): string | null {
  const [m, d] = [Number(month), Number(day)];
  if (m < 1 || m > 12 || d < 1 || d > 31) return null;
  return `${year}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`;
}

/** "15 Feb 2003" → "2003-02-15", so the named-month form is one token like the others. */
function namedMonthsToIso(query: string): string {
  return query.replace(NAMED_MONTH_DATE, (whole, lead: string, day: string, month: string, year: string) => {
    const index = MONTHS.indexOf(month.slice(0, 3).toLowerCase());
    if (index < 0) return whole;
    return `${lead}${year}-${String(index + 1).padStart(2, '0')}-${day.padStart(2, '0')}`;
  });
}

/**
 * A run of digits typed without a "+": the start of a phone number (with or without the trunk 0
 * or the country code), its last digits (4 or more, through the reversed token), or a patient
 * number without its prefix and padding.
 */
function digitsExpression(digits: string): string {
  const national = digits.replace(/^0/, '') || digits;
  const alternatives = new Set([`phone:"${digits}"*`, `phone:"${national}"*`]);
  if (national.length > 10) alternatives.add(`phone:"${national.slice(-10)}"*`);
  if (national.length >= 4) alternatives.add(`phone:"r${reversed(national.slice(-10))}"*`);
  const serial = withoutLeadingZeros(digits);
  if (serial !== '') {
    alternatives.add(`number:"${serial}"*`);
    // Other devices' numbers (P2-000012) are indexed with their padded serial as a token.
    if (serial.length <= 6) alternatives.add(`number:"${pad(serial)}"*`);
  }
  return `(${[...alternatives].join(' OR ')})`;
}

/**
 * A phone number typed with its country code ("+91 78378 27594", "+9178378"): the digits as
 * typed, and without the first group when it is a country code of 1-3 digits followed by a space.
 */
function internationalPhoneExpression(query: string): string | null {
  const groups = query
    .slice(1)
    .split(/[\s()./-]+/)
    .filter(Boolean);
  if (groups.length === 0 || !groups.every((group) => /^\d+$/.test(group))) return null;
  const digits = groups.join('');
  const alternatives = new Set([`phone:"${digits}"*`]);
  if (groups.length > 1 && groups[0]!.length <= 3) alternatives.add(`phone:"${groups.slice(1).join('')}"*`);
  if (digits.length > 10) alternatives.add(`phone:"${digits.slice(-10)}"*`);
  return `(${[...alternatives].join(' OR ')})`;
}

/** Builds the FTS5 MATCH expression for what was typed, or null when nothing is searchable. */
export function buildMatchExpression(query: string): MatchExpression | null {
  const text = namedMonthsToIso(query.normalize('NFKC').trim());
  if (text.startsWith('+')) {
    const expression = internationalPhoneExpression(text);
    if (expression) return { expression, kind: 'phone-or-number', exactNumber: null };
  }
  if (GROUPED_DIGITS.test(text) && text.replace(/\D/g, '').length >= 6) {
    return { expression: digitsExpression(text.replace(/\D/g, '')), kind: 'phone-or-number', exactNumber: null };
  }

  const kinds = new Set<SearchKind>();
  const parts: string[] = [];
  const tokens = text.split(/\s+/).filter(Boolean).slice(0, 8);
  let exactNumber: string | null = null;
  for (const raw of tokens) {
    const iso = ISO_DATE.exec(raw);
    const dayFirst = DAY_FIRST_DATE.exec(raw);
    if (iso || dayFirst) {
      const token = iso ? dobToken(iso[1]!, iso[2]!, iso[3]!) : dobToken(dayFirst![3]!, dayFirst![2]!, dayFirst![1]!);
      // An impossible date (31/02/2003) matches nobody rather than falling back to digits.
      parts.push(token ? `dob:"${token}"` : 'dob:"00000000"');
      kinds.add('date-of-birth');
      continue;
    }
    const isoMonth = ISO_MONTH.exec(raw);
    if (isoMonth || BIRTH_YEAR.test(raw)) {
      parts.push(isoMonth ? `dob:"${isoMonth[1]}${isoMonth[2]}"*` : `dob:"${raw}"*`);
      kinds.add('date-of-birth');
      continue;
    }
    const digits = raw.replace(/[+()./-]/g, '');
    if (/^\d+$/.test(digits)) {
      parts.push(digitsExpression(digits));
      kinds.add('phone-or-number');
      if (tokens.length === 1 && withoutLeadingZeros(digits).length <= 6 && withoutLeadingZeros(digits) !== '') {
        exactNumber = `P${pad(withoutLeadingZeros(digits))}`;
      }
      continue;
    }
    const deviceNumber = DEVICE_NUMBER_QUERY.exec(raw);
    if (deviceNumber) {
      const [, device, typedSerial] = deviceNumber as unknown as [string, string, string];
      const serial = withoutLeadingZeros(typedSerial);
      const alternatives = new Set([`number:"p${device}d${typedSerial}"*`]);
      if (serial !== '' && serial.length <= 6) {
        alternatives.add(`number:"p${device}d${pad(serial)}"*`);
        if (tokens.length === 1) exactNumber = `P${device}-${pad(serial)}`;
      }
      parts.push(`(${[...alternatives].join(' OR ')})`);
      kinds.add('phone-or-number');
      continue;
    }
    const ownNumber = OWN_NUMBER_QUERY.exec(raw);
    if (ownNumber) {
      const typedDigits = ownNumber[1]!;
      const serial = withoutLeadingZeros(typedDigits);
      const alternatives = new Set([`number:"p${typedDigits}"*`]);
      if (serial !== '' && serial.length <= 6) {
        alternatives.add(`number:"p${pad(serial)}"*`);
        // Without its padding the number is also a token of its own ("12" for P000012).
        alternatives.add(`number:"${serial}"*`);
        if (tokens.length === 1) exactNumber = `P${pad(serial)}`;
      }
      parts.push(`(${[...alternatives].join(' OR ')})`);
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
  return { expression: parts.join(' AND '), kind: kinds.size === 1 ? [...kinds][0]! : 'mixed', exactNumber };
}

/**
 * How many matches, newest first, are ranked, and so the most a search lists (in pages): ranking
 * every match of a one-letter prefix scores tens of thousands of rows at 100k patients (26 ms);
 * ranking a bounded window keeps search as you type under a few milliseconds. Past this many
 * matches the answer says "more than 300" and the screen asks to refine the search.
 */
export const SEARCH_RANK_WINDOW = SEARCH_MAX_LISTED;

const RESULT_COLUMNS =
  'p.id, p.patient_number, p.branch_id, p.first_name, p.last_name, p.date_of_birth, p.phone, p.archived_at';
const IN_SCOPE = `(@includeArchived = 1 OR p.archived_at IS NULL)
      AND (@allBranches = 1 OR p.branch_id IN (SELECT value FROM json_each(@branchIds)))`;

/**
 * The search query: FTS5 match joined to patients by rowid and scoped, the newest
 * SEARCH_RANK_WINDOW + 1 matches taken in rowid order (FTS5 stops early; the extra one tells
 * "more than 300"), ranked by bm25, with the patient whose number the query names first (found
 * by the patients_number index, so an old P000012 is listed even when "12" matches hundreds of
 * newer records). `matched` counts the window, before the page is cut.
 */
export const PATIENT_SEARCH_SQL = `SELECT id, patient_number, branch_id, first_name, last_name, date_of_birth, phone, archived_at,
    count(*) OVER () AS matched
  FROM (
    SELECT ${RESULT_COLUMNS}, -1e300 AS score
    FROM patients p
    WHERE p.patient_number = @exactNumber AND ${IN_SCOPE}
    UNION ALL
    SELECT * FROM (
      SELECT ${RESULT_COLUMNS}, patients_fts.rank AS score
      FROM patients_fts
      JOIN patients p ON p.rowid = patients_fts.rowid
      WHERE patients_fts MATCH @expression
        AND p.patient_number IS NOT @exactNumber
        AND ${IN_SCOPE}
      ORDER BY patients_fts.rowid DESC
      LIMIT ${SEARCH_RANK_WINDOW + 1}
    )
  )
  ORDER BY score
  LIMIT @limit OFFSET @offset`;

interface SearchRow {
  id: string;
  patient_number: string;
  branch_id: string;
  first_name: string;
  last_name: string;
  date_of_birth: string | null;
  phone: string | null;
  archived_at: number | null;
  matched: number;
}

/** One page of a search: the results, how many patients match (at most SEARCH_RANK_WINDOW), and whether more do. */
export interface PatientSearchPage {
  readonly results: PatientSearchResult[];
  /** Patients matching, counted up to SEARCH_RANK_WINDOW. */
  readonly total: number;
  /** More than `total` patients match: the screen asks to refine the search. */
  readonly capped: boolean;
  readonly kind: SearchKind;
}

/** Searches patients within a branch scope (null: every branch), best matches first, one page at a time. */
export function searchPatients(
  db: ReadDb,
  query: string,
  options: { limit: number; offset?: number; includeArchived: boolean; branchIds: readonly string[] | null },
): PatientSearchPage {
  const match = buildMatchExpression(query);
  if (!match) return { results: [], total: 0, capped: false, kind: 'empty' };
  const offset = Math.min(options.offset ?? 0, SEARCH_RANK_WINDOW);
  const run = (limit: number, from: number) =>
    db.query<SearchRow>(PATIENT_SEARCH_SQL).all({
      expression: match.expression,
      exactNumber: match.exactNumber,
      includeArchived: options.includeArchived ? 1 : 0,
      allBranches: options.branchIds === null ? 1 : 0,
      branchIds: JSON.stringify(options.branchIds ?? []),
      limit,
      offset: from,
    });
  // The page never reaches past the ranked window: the 301st row only says "more".
  const limit = Math.max(0, Math.min(options.limit, SEARCH_RANK_WINDOW - offset));
  const rows = limit > 0 ? run(limit, offset) : [];
  // A page past the end has no rows to carry the count: count from the first row instead.
  const matched = rows[0]?.matched ?? (offset > 0 ? (run(1, 0)[0]?.matched ?? 0) : 0);
  return {
    kind: match.kind,
    total: Math.min(matched, SEARCH_RANK_WINDOW),
    capped: matched > SEARCH_RANK_WINDOW,
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
