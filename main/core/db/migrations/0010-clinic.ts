import type { Migration } from '../migrate.js';

/** The clinic (one per database), its branches, this device's identity and named counters. */
export const clinicMigration: Migration = {
  version: 10,
  name: 'clinic',
  up(db) {
    db.execScript(`
      CREATE TABLE clinic (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        -- One clinic per database: a second row violates this.
        singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
      ) STRICT;
      CREATE TABLE branches (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE device (
        id TEXT PRIMARY KEY,
        -- A reinstall or restored backup starts a new epoch, so audit sequences are never reused.
        epoch INTEGER NOT NULL CHECK (epoch >= 1),
        created_at INTEGER NOT NULL,
        singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
      ) STRICT;
      CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT;
    `);
  },
};
