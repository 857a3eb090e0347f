import type { Migration } from '../migrate.js';

/**
 * Branch names are no longer UNIQUE in the table. Two devices that each create a branch of the
 * same name while offline would otherwise make the second one's pulled insert fail on every
 * device, and the failed page would stop sync for good (docs/sync-protocol.md, "Domain
 * conflicts"). `branches.create` still refuses a name this device already has; a name that
 * arrives twice by sync is kept twice (the rows have different ids and converge everywhere).
 * The table is rebuilt because SQLite cannot drop a column constraint; its rowids are kept.
 */
export const branchNamesMigration: Migration = {
  version: 110,
  name: 'branch-names',
  up(db) {
    db.execScript(`
      -- Rebuilding a parent table: its children's references are checked at commit, by which
      -- time every branch id is back in the table of the same name.
      PRAGMA defer_foreign_keys = ON;
      CREATE TEMP TABLE branches_before AS SELECT rowid AS old_rowid, * FROM branches;
      DROP TABLE branches;
      CREATE TABLE branches (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL COLLATE NOCASE,
        created_at INTEGER NOT NULL
      ) STRICT;
      INSERT INTO branches (rowid, id, name, created_at) SELECT old_rowid, id, name, created_at FROM branches_before;
      DROP TABLE branches_before;
      CREATE INDEX branches_name ON branches (name);
    `);
  },
};
