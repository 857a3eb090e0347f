import type { SqliteMigration } from '../../migrate.js';

/**
 * The catalog: which clinics exist, and which clinic an enrollment code hash belongs to (a
 * device redeeming a code does not know its clinic yet). Everything else lives in the clinic's
 * own file.
 */
export const catalogMigration: SqliteMigration = {
  version: 10,
  name: 'catalog',
  up(db) {
    db.exec(`
      CREATE TABLE clinics (
        clinic_id TEXT PRIMARY KEY,
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE enrollment_code_lookup (
        code_hash TEXT PRIMARY KEY CHECK (length(code_hash) = 64),
        clinic_id TEXT NOT NULL REFERENCES clinics (clinic_id),
        expires_at INTEGER NOT NULL
      ) STRICT;
    `);
  },
};
