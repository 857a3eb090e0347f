import type { SqliteMigration } from '../../migrate.js';
import { appendOnlyTriggers } from '../append-only.js';

/**
 * Change-log compaction (docs/sync-protocol.md, "Compaction"). `device_cursors` keeps the
 * highest `after` each device has pulled with (it only advances, and is never deleted);
 * `compacted_changes` keeps the idempotency record of every change compaction removed (append
 * only), so a re-push of it is still answered with its number. The changes table stays
 * append-only for everything else: a change row may be deleted only once its record is in
 * `compacted_changes` under the same number and id, which compaction writes first in the same
 * transaction.
 */
export const compactionMigration: SqliteMigration = {
  version: 90,
  name: 'compaction',
  up(db) {
    db.exec(`
      CREATE TABLE device_cursors (
        device_id TEXT PRIMARY KEY REFERENCES devices (device_id),
        pulled_after INTEGER NOT NULL CHECK (pulled_after >= 0),
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TRIGGER device_cursors_only_advance BEFORE UPDATE ON device_cursors
        WHEN NEW.device_id <> OLD.device_id OR NEW.pulled_after <= OLD.pulled_after
        BEGIN SELECT RAISE(ABORT, 'a pulled cursor only advances'); END;
      CREATE TRIGGER device_cursors_no_delete BEFORE DELETE ON device_cursors
        BEGIN SELECT RAISE(ABORT, 'a pulled cursor is never deleted'); END;

      CREATE TABLE compacted_changes (
        server_seq INTEGER PRIMARY KEY CHECK (server_seq >= 1),
        change_id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL,
        content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
        compacted_at INTEGER NOT NULL
      ) STRICT;
      ${appendOnlyTriggers('compacted_changes')}

      DROP TRIGGER changes_no_delete;
      CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
        WHEN NOT EXISTS (
          SELECT 1 FROM compacted_changes WHERE server_seq = OLD.server_seq AND change_id = OLD.change_id
        )
        BEGIN SELECT RAISE(ABORT, 'changes is append-only: a change leaves it only by compaction'); END;
    `);
  },
};
