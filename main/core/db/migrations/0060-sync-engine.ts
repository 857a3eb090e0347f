import type { Migration } from '../migrate.js';

/**
 * The device's side of replication (docs/sync-protocol.md, "Device sync engine (built)"):
 * - `sync_identity`: the server this clinic is connected to, the clinic id there, this device's
 *   Ed25519 key pair (the private key is stored here, inside the encrypted database, and never
 *   leaves it), the cursor of the last pulled change and the state of the last round. The device
 *   id is the `device` row's id.
 * - `sync_conflicts`: values that lost a concurrent edit (shared/sync/merge.ts), kept for review,
 *   once per (entity, row, field, losing HLC).
 * - `sync_refused`: outbox changes the server refused permanently, with the code it answered;
 *   they no longer block the queue and are shown instead of hidden.
 */
export const syncEngineMigration: Migration = {
  version: 60,
  name: 'sync-engine',
  up(db) {
    db.execScript(`
      CREATE TABLE sync_identity (
        server_url TEXT NOT NULL,
        server_clinic_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        private_key BLOB NOT NULL,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        connected_at INTEGER NOT NULL,
        pulled_cursor INTEGER NOT NULL DEFAULT 0 CHECK (pulled_cursor >= 0),
        last_attempt_at INTEGER,
        last_success_at INTEGER,
        last_error TEXT,
        singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
      ) STRICT;

      CREATE TABLE sync_conflicts (
        entity TEXT NOT NULL,
        row_id TEXT NOT NULL,
        field TEXT NOT NULL,
        losing_hlc TEXT NOT NULL,
        losing_value TEXT NOT NULL CHECK (json_valid(losing_value)),
        winning_hlc TEXT NOT NULL,
        winning_value TEXT NOT NULL CHECK (json_valid(winning_value)),
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (entity, row_id, field, losing_hlc)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE sync_refused (
        change_id TEXT PRIMARY KEY REFERENCES sync_outbox (change_id),
        tx_id TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        refused_at INTEGER NOT NULL
      ) STRICT;
    `);
  },
};
