import type { Migration } from '../migrate.js';

/**
 * The hash-chained audit log. The body column holds the canonical JSON bytes that were hashed;
 * the other columns repeat its fields for filtering and are checked against it on verify.
 * Triggers refuse UPDATE and DELETE: entries are append-only (retention, later, uses checkpoints).
 */
export const auditMigration: Migration = {
  version: 30,
  name: 'audit',
  up(db) {
    db.execScript(`
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        time INTEGER NOT NULL,
        user_id TEXT,
        role TEXT,
        action TEXT NOT NULL,
        entity_type TEXT,
        entity_id TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
        purpose TEXT NOT NULL,
        legal_basis TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        UNIQUE (device_id, epoch, seq)
      ) STRICT;
      CREATE INDEX audit_log_user ON audit_log (user_id, id);
      CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, id);
      CREATE INDEX audit_log_action ON audit_log (action, id);
      CREATE INDEX audit_log_time ON audit_log (time);
      CREATE TABLE audit_head (
        device_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (device_id, epoch)
      ) STRICT;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
    `);
  },
};
