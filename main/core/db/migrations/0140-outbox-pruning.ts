import type { Migration } from '../migrate.js';

/**
 * Device outboxes are pruned (main/core/sync/outbox-pruning.ts): a change the server accepted is
 * in the clinic's change log, and this device no longer needs its copy. The trigger that refused
 * every delete gives way to one that refuses deleting a change the server has not accepted: one
 * not yet acknowledged (it still has to be pushed), or one the server refused (the conflicts inbox
 * shows it from its outbox row, sync_refused references it).
 */
export const outboxPruningMigration: Migration = {
  version: 140,
  name: 'outbox-pruning',
  up(db) {
    db.execScript(`
      DROP TRIGGER sync_outbox_no_delete;
      CREATE TRIGGER sync_outbox_delete_accepted_only BEFORE DELETE ON sync_outbox
        WHEN OLD.pushed_at IS NULL OR EXISTS (SELECT 1 FROM sync_refused r WHERE r.change_id = OLD.change_id)
      BEGIN SELECT RAISE(ABORT, 'sync_outbox rows are never deleted until the server accepted them'); END;
    `);
  },
};
