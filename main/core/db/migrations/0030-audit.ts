import type { Migration } from '../migrate.js';

/**
 * The hash-chained audit log. The body column holds the canonical JSON bytes that were hashed;
 * every other field is a generated column derived from it (for filtering and indexes), so a
 * column can never disagree with what was hashed: editing the body is caught by the hash, and
 * the derived columns cannot be written at all. Triggers refuse UPDATE and DELETE: entries are
 * append-only (retention, later, uses checkpoints).
 */
export const auditMigration: Migration = {
  version: 30,
  name: 'audit',
  up(db) {
    db.execScript(`
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        device_id TEXT NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.deviceId')) STORED,
        epoch INTEGER NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.epoch')) STORED,
        seq INTEGER NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.seq')) STORED,
        time INTEGER NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.time')) VIRTUAL,
        user_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.userId')) VIRTUAL,
        role TEXT GENERATED ALWAYS AS (json_extract(body, '$.role')) VIRTUAL,
        action TEXT NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.action')) VIRTUAL,
        entity_type TEXT GENERATED ALWAYS AS (json_extract(body, '$.entityType')) VIRTUAL,
        entity_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.entityId')) VIRTUAL,
        outcome TEXT NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.outcome')) VIRTUAL
          CHECK (outcome IN ('success', 'denied', 'error')),
        purpose TEXT NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.purpose')) VIRTUAL,
        legal_basis TEXT NOT NULL GENERATED ALWAYS AS (json_extract(body, '$.legalBasis')) VIRTUAL,
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
