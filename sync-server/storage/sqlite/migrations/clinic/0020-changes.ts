import type { SqliteMigration } from '../../migrate.js';
import { appendOnlyTriggers } from '../append-only.js';

/**
 * Replicated changes, numbered by the clinic's counter (server_seq, the pull cursor) and unique
 * by change id (idempotent push). Fields are canonical JSON text; content_hash lets a re-push be
 * compared with what is stored.
 */
export const changesMigration: SqliteMigration = {
  version: 20,
  name: 'changes',
  up(db) {
    db.exec(`
      CREATE TABLE changes (
        server_seq INTEGER PRIMARY KEY CHECK (server_seq >= 1),
        change_id TEXT NOT NULL UNIQUE,
        tx_id TEXT NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        user_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        row_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
        fields TEXT NOT NULL,
        hlc TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
        received_at INTEGER NOT NULL
      ) STRICT;
      ${appendOnlyTriggers('changes')}
    `);
  },
};
