import type { Migration } from '../migrate.js';

/**
 * A device that learns from its sync server that it was revoked (docs/sync-protocol.md,
 * "Revoked device lock (built)") records it here, once: `sync_revocation` holds when it learned
 * it. While the row exists nobody signs in and no round is attempted. Nothing else changes:
 * the clinic's data stays in this encrypted file, for an administrator to recover or erase
 * deliberately. The row is never removed (a revocation is permanent); a trigger refuses it.
 */
export const deviceRevocationMigration: Migration = {
  version: 80,
  name: 'device-revocation',
  up(db) {
    db.execScript(`
      CREATE TABLE sync_revocation (
        revoked_at INTEGER NOT NULL,
        singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
      ) STRICT;

      CREATE TRIGGER sync_revocation_permanent_update BEFORE UPDATE ON sync_revocation
      BEGIN SELECT RAISE(ABORT, 'a revocation is permanent'); END;
      CREATE TRIGGER sync_revocation_permanent_delete BEFORE DELETE ON sync_revocation
      BEGIN SELECT RAISE(ABORT, 'a revocation is permanent'); END;
    `);
  },
};
