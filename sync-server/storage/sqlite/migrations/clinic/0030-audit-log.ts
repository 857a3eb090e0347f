import type { SqliteMigration } from '../../migrate.js';
import { appendOnlyTriggers } from '../append-only.js';

/**
 * Device audit chains and the clinic's Merkle log: accepted entries with device and receipt
 * times, the head of each device chain per epoch (which only advances), the leaf hashes by
 * index, and signed checkpoints. Everything but the heads is append-only.
 */
export const auditLogMigration: SqliteMigration = {
  version: 30,
  name: 'audit-log',
  up(db) {
    db.exec(`
      CREATE TABLE audit_heads (
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        epoch INTEGER NOT NULL CHECK (epoch >= 1),
        head_seq INTEGER NOT NULL CHECK (head_seq >= 1),
        head_hash TEXT NOT NULL CHECK (length(head_hash) = 64),
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (device_id, epoch)
      ) STRICT;
      CREATE TRIGGER audit_heads_only_advance BEFORE UPDATE ON audit_heads
        WHEN NEW.head_seq <= OLD.head_seq OR NEW.device_id IS NOT OLD.device_id OR NEW.epoch IS NOT OLD.epoch
        BEGIN SELECT RAISE(ABORT, 'an audit chain head only advances'); END;
      CREATE TRIGGER audit_heads_kept BEFORE DELETE ON audit_heads
        BEGIN SELECT RAISE(ABORT, 'audit chain heads are kept'); END;
      CREATE TABLE audit_leaves (
        leaf_index INTEGER PRIMARY KEY CHECK (leaf_index >= 0),
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
      ) STRICT;
      CREATE TABLE audit_entries (
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        epoch INTEGER NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        device_time INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        leaf_index INTEGER NOT NULL UNIQUE REFERENCES audit_leaves (leaf_index),
        PRIMARY KEY (device_id, epoch, seq)
      ) STRICT;
      CREATE TABLE audit_checkpoints (
        tree_size INTEGER PRIMARY KEY CHECK (tree_size >= 0),
        root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
        note TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
      ${appendOnlyTriggers('audit_leaves')}
      ${appendOnlyTriggers('audit_entries')}
      ${appendOnlyTriggers('audit_checkpoints')}
    `);
  },
};
