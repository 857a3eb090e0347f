import type { Migration } from '../migrate.js';

/**
 * Branch assignments pulled before their branch (docs/sync-protocol.md, "The user directory"). A
 * user's `branch_ids` can arrive ahead of a branch it names: a device pushes user inserts before
 * its other transactions, so a branch created offline and assigned right away reaches other
 * devices after the user. `user_branches` references `branches`, so such an assignment waits
 * here (no foreign key) and moves there when the branch is pulled (main/core/sync/user-branches-apply.ts).
 */
export const pendingUserBranchesMigration: Migration = {
  version: 100,
  name: 'pending-user-branches',
  up(db) {
    db.execScript(`
      CREATE TABLE sync_pending_user_branches (
        user_id TEXT NOT NULL,
        branch_id TEXT NOT NULL,
        PRIMARY KEY (user_id, branch_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX sync_pending_user_branches_branch ON sync_pending_user_branches (branch_id);
    `);
  },
};
