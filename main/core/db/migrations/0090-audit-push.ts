import type { Migration } from '../migrate.js';

/**
 * The device's side of the consolidated audit log (docs/sync-protocol.md, "Device audit push
 * (built)" and "Checkpoint pinning (built)"). `audit_log` is append-only (triggers), so what the
 * server has accepted is kept beside it, never in it:
 * - `sync_audit_push`: per chain (device, epoch), the last sequence and hash the server
 *   acknowledged, and a refusal (the server's code and the refused range) once the server has
 *   refused the chain, so a refused chain is shown instead of being pushed again every round.
 * - `sync_checkpoint` (one row): the server's checkpoint origin and verifier key, pinned at
 *   enrollment (or, for a device connected before this step, the first checkpoint it saw, without
 *   a key), the latest checkpoint this device verified, one of this device's own leaves whose hash
 *   is pinned, and a refusal once the server's log proved rewritten or rolled back.
 */
export const auditPushMigration: Migration = {
  version: 90,
  name: 'audit-push',
  up(db) {
    db.execScript(`
      CREATE TABLE sync_audit_push (
        device_id TEXT NOT NULL,
        epoch INTEGER NOT NULL CHECK (epoch >= 1),
        accepted_seq INTEGER NOT NULL CHECK (accepted_seq >= 0),
        accepted_hash TEXT,
        accepted_at INTEGER,
        refused_code TEXT,
        refused_from_seq INTEGER,
        refused_to_seq INTEGER,
        refused_at INTEGER,
        PRIMARY KEY (device_id, epoch)
      ) STRICT;

      CREATE TABLE sync_checkpoint (
        origin TEXT NOT NULL,
        verifier_key TEXT,
        pinned_via TEXT NOT NULL CHECK (pinned_via IN ('enrollment', 'first-contact')),
        pinned_at INTEGER NOT NULL,
        size INTEGER CHECK (size >= 0),
        root_hash BLOB CHECK (root_hash IS NULL OR length(root_hash) = 32),
        note TEXT,
        verified_at INTEGER,
        own_leaf_index INTEGER CHECK (own_leaf_index >= 0),
        own_leaf_hash BLOB CHECK (own_leaf_hash IS NULL OR length(own_leaf_hash) = 32),
        refused_reason TEXT,
        refused_at INTEGER,
        singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
      ) STRICT;
    `);
  },
};
