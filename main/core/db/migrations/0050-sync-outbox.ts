import type { Migration } from '../migrate.js';

/**
 * Change capture for sync (docs/sync-protocol.md, "Change capture and merge"):
 * - `sync_outbox`: every change this device made, written in the same transaction as the write
 *   it describes. Values live here and only here (the audit trail names fields, never values);
 *   the table is inside the SQLCipher file like every other. Rows are never edited: only
 *   `pushed_at` is set, once, when the server acknowledged the change.
 * - `sync_clock`: the device's last hybrid logical clock timestamp, so the clock stays monotonic
 *   across restarts and a wall clock that goes backwards.
 * - `sync_field_clock` and `sync_row_clock`: the HLC of the write that set each replicated field,
 *   and of each row's last insert and delete (tombstone); the merge of incoming changes compares
 *   against them.
 * HLCs are stored encoded (`encodeHlc`): binary collation order is clock order.
 */
export const syncOutboxMigration: Migration = {
  version: 50,
  name: 'sync-outbox',
  up(db) {
    db.execScript(`
      CREATE TABLE sync_outbox (
        change_id TEXT PRIMARY KEY,
        tx_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        row_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
        fields TEXT NOT NULL CHECK (json_valid(fields)),
        hlc TEXT NOT NULL UNIQUE,
        schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
        created_at INTEGER NOT NULL,
        pushed_at INTEGER
      ) STRICT;
      CREATE INDEX sync_outbox_pending ON sync_outbox (hlc) WHERE pushed_at IS NULL;
      CREATE INDEX sync_outbox_tx ON sync_outbox (tx_id);
      CREATE TRIGGER sync_outbox_no_edit BEFORE UPDATE OF change_id, tx_id, device_id, user_id, entity, row_id, op,
        fields, hlc, schema_version, created_at ON sync_outbox
      BEGIN SELECT RAISE(ABORT, 'sync_outbox rows are never edited'); END;
      CREATE TRIGGER sync_outbox_pushed_once BEFORE UPDATE OF pushed_at ON sync_outbox
        WHEN OLD.pushed_at IS NOT NULL OR NEW.pushed_at IS NULL
      BEGIN SELECT RAISE(ABORT, 'sync_outbox pushed_at is set once'); END;
      -- TODO: allow deletes once compaction exists (changes every device has acknowledged).
      CREATE TRIGGER sync_outbox_no_delete BEFORE DELETE ON sync_outbox
      BEGIN SELECT RAISE(ABORT, 'sync_outbox rows are never deleted'); END;

      CREATE TABLE sync_clock (
        hlc TEXT NOT NULL,
        singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
      ) STRICT;

      CREATE TABLE sync_field_clock (
        entity TEXT NOT NULL,
        row_id TEXT NOT NULL,
        field TEXT NOT NULL,
        hlc TEXT NOT NULL,
        PRIMARY KEY (entity, row_id, field)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE sync_row_clock (
        entity TEXT NOT NULL,
        row_id TEXT NOT NULL,
        inserted_hlc TEXT,
        deleted_hlc TEXT,
        PRIMARY KEY (entity, row_id)
      ) STRICT, WITHOUT ROWID;
    `);
  },
};
