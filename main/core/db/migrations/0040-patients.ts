import type { Migration } from '../migrate.js';

/**
 * Patients, their medical history, and the FTS5 search index. The index uses unicode61 with
 * remove_diacritics 2 (case- and accent-insensitive) and prefix indexes for search as you type;
 * the repository keeps it in step inside the same transaction as each write.
 */
export const patientsMigration: Migration = {
  version: 40,
  name: 'patients',
  up(db) {
    db.execScript(`
      CREATE TABLE patients (
        id TEXT PRIMARY KEY,
        patient_number TEXT NOT NULL UNIQUE,
        branch_id TEXT NOT NULL REFERENCES branches (id),
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        date_of_birth TEXT,
        sex TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
        phone TEXT,
        email TEXT,
        address TEXT,
        archived_at INTEGER,
        archive_reason TEXT,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      ) STRICT;
      CREATE INDEX patients_branch ON patients (branch_id);
      CREATE TABLE patient_medical (
        patient_id TEXT PRIMARY KEY REFERENCES patients (id),
        allergies TEXT NOT NULL,
        conditions TEXT NOT NULL,
        medications TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      ) STRICT;
      CREATE VIRTUAL TABLE patients_fts USING fts5 (
        name, phone, number, dob,
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2 3 4'
      );
    `);
  },
};
