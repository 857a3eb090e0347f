import type { Migration } from '../migrate.js';

/** Users with role, password hash, lockout state, and their branch assignments. */
export const usersMigration: Migration = {
  version: 20,
  name: 'users',
  up(db) {
    db.execScript(`
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('Admin', 'Dentist', 'Receptionist', 'Staff')),
        all_branches INTEGER NOT NULL CHECK (all_branches IN (0, 1)),
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        lockout_level INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER,
        password_changed_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE user_branches (
        user_id TEXT NOT NULL REFERENCES users (id),
        branch_id TEXT NOT NULL REFERENCES branches (id),
        PRIMARY KEY (user_id, branch_id)
      ) STRICT, WITHOUT ROWID;
    `);
  },
};
