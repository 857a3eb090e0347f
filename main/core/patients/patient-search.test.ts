import Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadDb } from '../db/access.js';
import { SEARCH_RANK_WINDOW, buildMatchExpression, searchColumns, searchPatients } from './patient-search.js';

/** The index and the columns of patients the search reads, as migrations 0040 and 0070 make them. */
const SCHEMA = `
  CREATE TABLE patients (id TEXT PRIMARY KEY, patient_number TEXT NOT NULL UNIQUE, branch_id TEXT NOT NULL,
    first_name TEXT NOT NULL, last_name TEXT NOT NULL, date_of_birth TEXT, phone TEXT, archived_at INTEGER);
  CREATE INDEX patients_number ON patients (patient_number);
  CREATE VIRTUAL TABLE patients_fts USING fts5 (name, phone, number, dob,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3 4');
`;

interface Doc {
  number: string;
  first?: string;
  last?: string;
  phone?: string | null;
  dob?: string | null;
}

let raw: Database.Database;
beforeEach(() => {
  raw = new Database(':memory:');
  raw.exec(SCHEMA);
});
afterEach(() => raw.close());

function add(docs: readonly Doc[]): void {
  const insert = raw.prepare(
    'INSERT INTO patients (id, patient_number, branch_id, first_name, last_name, date_of_birth, phone) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const index = raw.prepare('INSERT INTO patients_fts (rowid, name, phone, number, dob) VALUES (?, ?, ?, ?, ?)');
  for (const doc of docs) {
    const first = doc.first ?? 'Asha';
    const last = doc.last ?? 'Rao';
    const { lastInsertRowid } = insert.run(
      doc.number,
      doc.number,
      'B',
      first,
      last,
      doc.dob ?? null,
      doc.phone ?? null,
    );
    index.run(
      lastInsertRowid,
      ...searchColumns({
        firstName: first,
        lastName: last,
        phone: doc.phone ?? null,
        patientNumber: doc.number,
        dateOfBirth: doc.dob ?? null,
      }),
    );
  }
}

/** The patient numbers a query finds, in the search's order. */
function found(query: string, limit = 50): string[] {
  return searchPatients(new ReadDb(raw), query, { limit, includeArchived: true, branchIds: null }).results.map(
    (result) => result.patientNumber,
  );
}

const FRONT_DESK: readonly Doc[] = [
  { number: 'P000012', phone: '7837827594', dob: '2003-02-15' },
  { number: 'P2-000012', phone: '+91 98450 11111', dob: '1990-07-02' },
  { number: 'P002003', phone: null, dob: '1985-01-01' },
  { number: 'P000120', phone: '080 2222 3333', dob: '2003-11-30' },
];

describe('patient search by patient number', () => {
  it('finds P000012 from "P12", "12", "000012" and "P000012", listed first', () => {
    add(FRONT_DESK);
    for (const query of ['P12', 'p12', '12', '000012', 'P000012']) {
      expect(found(query)[0], query).toBe('P000012');
    }
  });

  it("finds another device's number from P2-12 and P2-000012, and not device 1's number 12", () => {
    add(FRONT_DESK);
    expect(found('P2-12')).toEqual(['P2-000012']);
    expect(found('p2-000012')).toEqual(['P2-000012']);
    expect(found('P12')).not.toContain('P2-000012');
  });
});

describe('patient search by phone', () => {
  it('matches the last digits of a number', () => {
    add(FRONT_DESK);
    expect(found('27594')).toEqual(['P000012']);
    expect(found('11111')).toEqual(['P2-000012']);
  });

  it('matches a number typed with the country code, spaces or a leading 0', () => {
    add(FRONT_DESK);
    for (const query of [
      '+91 78378 27594',
      '+917837827594',
      '78378 27594',
      '07837827594',
      '0 78378 27594',
      '+91 78378',
    ]) {
      expect(found(query), query).toEqual(['P000012']);
    }
    expect(found('98450 11111')).toEqual(['P2-000012']);
    expect(found('22223333')).toEqual(['P000120']);
  });
});

describe('patient search by date of birth', () => {
  it('accepts the Indian day-first forms, the display format and ISO', () => {
    add(FRONT_DESK);
    for (const query of ['15-02-2003', '15/02/2003', '15.02.2003', '15 Feb 2003', '15 february 2003', '2003-02-15']) {
      expect(found(query), query).toEqual(['P000012']);
    }
  });

  it('reads a bare year as the year of birth, not as patient P002003', () => {
    add(FRONT_DESK);
    expect(found('2003').sort()).toEqual(['P000012', 'P000120']);
    expect(buildMatchExpression('2003')?.kind).toBe('date-of-birth');
    expect(found('P2003')).toEqual(['P002003']);
  });
});

describe('patient search pages', () => {
  const sharmas = (count: number): Doc[] =>
    Array.from({ length: count }, (_, i) => ({ number: `P${String(i + 1).padStart(6, '0')}`, last: 'Sharma' }));
  const page = (offset: number, limit = 20) =>
    searchPatients(new ReadDb(raw), 'sharma', { limit, offset, includeArchived: false, branchIds: null });

  it('says how many patients match and lists them page by page', () => {
    add(sharmas(57));
    const first = page(0);
    expect(first).toMatchObject({ total: 57, capped: false });
    expect(first.results).toHaveLength(20);
    const rest = [page(20), page(40)].flatMap((next) => next.results);
    expect(rest).toHaveLength(37);
    const all = new Set([...first.results, ...rest].map((result) => result.id));
    expect(all.size).toBe(57);
    expect(page(60)).toMatchObject({ results: [], total: 57, capped: false });
  });

  it('says "more than" the ranked window when more patients match, and lists no further', () => {
    add(sharmas(SEARCH_RANK_WINDOW + 5));
    expect(page(0)).toMatchObject({ total: SEARCH_RANK_WINDOW, capped: true });
    expect(page(SEARCH_RANK_WINDOW - 10, 50).results).toHaveLength(10);
  });
});
