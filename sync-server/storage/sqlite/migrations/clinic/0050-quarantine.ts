import type { SqliteMigration } from '../../migrate.js';
import { appendOnlyTriggers } from '../append-only.js';

/**
 * Quarantined changes (pushed changes the server refused for good: never in the change log),
 * unique by change id so a re-push gets the stored answer; only their identity and reason are
 * kept, never field values. And the user directory: each user's role as the accepted `user`
 * changes set it (last writer wins by HLC), for re-validating pushed changes.
 */
export const quarantineMigration: SqliteMigration = {
  version: 50,
  name: 'quarantine',
  up(db) {
    db.exec(`
      CREATE TABLE quarantined_changes (
        quarantine_seq INTEGER PRIMARY KEY CHECK (quarantine_seq >= 1),
        change_id TEXT NOT NULL UNIQUE,
        tx_id TEXT NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        user_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        row_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
        hlc TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
        quarantined_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX quarantined_changes_device ON quarantined_changes (device_id, quarantine_seq);
      ${appendOnlyTriggers('quarantined_changes')}
      CREATE TABLE user_directory (
        user_id TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('Admin', 'Dentist', 'Receptionist', 'Staff')),
        role_hlc TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TRIGGER user_directory_no_delete BEFORE DELETE ON user_directory
        BEGIN SELECT RAISE(ABORT, 'user_directory rows are never deleted'); END;
      CREATE TRIGGER user_directory_only_advances BEFORE UPDATE ON user_directory
        WHEN NEW.role_hlc <= OLD.role_hlc OR NEW.user_id <> OLD.user_id
        BEGIN SELECT RAISE(ABORT, 'a directory role only moves to a higher clock'); END;
    `);
  },
};
