import { duplicateKey } from '../../patients/duplicate-key.js';
import type { Migration } from '../migrate.js';

/**
 * Domain conflicts (docs/sync-protocol.md, "Domain conflicts"):
 * - `sync_identity.device_number`: this device's number in its clinic, from the server's
 *   enrollment answer; devices other than number 1 allocate patient numbers in their own space.
 * - `patients` is rebuilt (same rowids, so the search index stays valid) with three changes:
 *   `patient_number` is no longer UNIQUE (a colliding number pulled from another device, e.g.
 *   data of an older version, must be accepted and flagged, never fail the round or be dropped;
 *   local allocation keeps numbers distinct by numbering space), `merged_into` (replicated: the
 *   record this one was merged into) and `duplicate_key` (local, derived by
 *   patients/duplicate-key.ts from replicated fields; indexed so matching stays fast at 100,000
 *   patients).
 * - `patient_duplicates`: pairs of patients to review (same person, or same number), ids in
 *   order, with their status (open, merged, dismissed).
 */
export const domainConflictsMigration: Migration = {
  version: 70,
  name: 'domain-conflicts',
  up(db) {
    db.execScript(`
      ALTER TABLE sync_identity ADD COLUMN device_number INTEGER CHECK (device_number >= 1);

      -- Rebuilding a parent table: its children's references are checked at commit, by which
      -- time every patient id is back in the table of the same name.
      PRAGMA defer_foreign_keys = ON;
      CREATE TEMP TABLE patients_before AS SELECT rowid AS old_rowid, * FROM patients;
      DROP TABLE patients;
      CREATE TABLE patients (
        id TEXT PRIMARY KEY,
        patient_number TEXT NOT NULL,
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
        merged_into TEXT CHECK (merged_into IS NULL OR merged_into <> id),
        duplicate_key TEXT,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      ) STRICT;
      INSERT INTO patients (rowid, id, patient_number, branch_id, first_name, last_name, date_of_birth, sex, phone,
          email, address, archived_at, archive_reason, created_at, created_by, updated_at, updated_by)
        SELECT old_rowid, id, patient_number, branch_id, first_name, last_name, date_of_birth, sex, phone, email,
          address, archived_at, archive_reason, created_at, created_by, updated_at, updated_by
        FROM patients_before;
      DROP TABLE patients_before;
      CREATE INDEX patients_branch ON patients (branch_id);
      CREATE INDEX patients_number ON patients (patient_number);
      CREATE INDEX patients_duplicate_key ON patients (duplicate_key) WHERE duplicate_key IS NOT NULL;
      CREATE INDEX patients_merged_into ON patients (merged_into) WHERE merged_into IS NOT NULL;

      CREATE TABLE patient_duplicates (
        first_id TEXT NOT NULL REFERENCES patients (id),
        second_id TEXT NOT NULL REFERENCES patients (id),
        reason TEXT NOT NULL CHECK (reason IN ('same-person', 'same-number')),
        detected_at INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'dismissed')),
        resolved_at INTEGER,
        resolved_by TEXT,
        note TEXT,
        PRIMARY KEY (first_id, second_id, reason),
        CHECK (first_id < second_id),
        CHECK ((status = 'open') = (resolved_at IS NULL))
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX patient_duplicates_second ON patient_duplicates (second_id);
      CREATE INDEX patient_duplicates_status ON patient_duplicates (status, detected_at);
    `);
    const rows = db
      .query<{
        id: string;
        first_name: string;
        last_name: string;
        date_of_birth: string | null;
        phone: string | null;
      }>('SELECT id, first_name, last_name, date_of_birth, phone FROM patients')
      .all();
    const setKey = db.command('UPDATE patients SET duplicate_key = ? WHERE id = ?');
    for (const row of rows) {
      const key = duplicateKey({
        firstName: row.first_name,
        lastName: row.last_name,
        dateOfBirth: row.date_of_birth,
        phone: row.phone,
      });
      if (key !== null) setKey.run([key, row.id]);
    }
  },
};
