/**
 * The users domain's replication hooks (sync/replication-hooks.ts): a user's branch assignments
 * travel as the user's computed `branch_ids` field, the canonical JSON of the sorted branch id
 * list read from `user_branches` (userBranchIds), and a pulled value is written back there
 * (applyUserBranches), so a device that joined the clinic restricts that user to the same
 * branches as every other device (docs/sync-protocol.md, "The user directory").
 *
 * The hooks run inside the pull's transaction, once the merge decided the row.
 */
import { z } from 'zod';
import { canonicalJson } from '../../../shared/canonical-json.js';
import type { ChangeRecord } from '../../../shared/sync/change.js';
import { parseJsonText } from '../../../shared/sync/entities/declaration.js';
import type { FieldState } from '../../../shared/sync/merge.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import type { EntityHooks } from '../sync/replication-hooks.js';

/**
 * A user's branch ids, sorted (empty for an all-branches user): user_branches, plus assignments
 * pulled ahead of their branch (migration 0100), so the value this device holds is the one it pulled.
 */
export function userBranchIds(db: ReadDb, userId: string): string[] {
  return db
    .query<{ branch_id: string }>(
      `SELECT branch_id FROM user_branches WHERE user_id = ?
       UNION SELECT branch_id FROM sync_pending_user_branches WHERE user_id = ? ORDER BY branch_id`,
    )
    .all([userId, userId])
    .map((row) => row.branch_id);
}

/**
 * The user entity's hooks: branch_ids read from and written back to the assignments; a new user
 * whose username another local user already has (two clinic databases set up separately, then
 * connected to one server) cannot be written, so it is skipped, not merged.
 */
export const userReplicationHooks: EntityHooks<'user'> = {
  computed: { branch_ids: (db, userId) => canonicalJson(userBranchIds(db, userId)) },
  afterWrite: (db, change, merged) => void applyUserBranches(db, change, merged),
  refusesNewRow: (db, change) =>
    typeof change.fields.username === 'string' &&
    db
      .query<{ id: string }>('SELECT id FROM users WHERE username = ? AND id <> ?')
      .get([change.fields.username, change.rowId]) !== undefined,
};

/** The branch entity's hooks: assignments that waited for a pulled branch move in when it arrives. */
export const branchReplicationHooks: EntityHooks<'branch'> = {
  afterWrite: (db, change, merged) => void applyUserBranches(db, change, merged),
};

// The field's value is validated like any value from the network: a list of ULIDs, nothing else.
const branchIdsSchema = z.array(z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/)).max(10_000);

/**
 * Replaces the user's branch assignments when this change carried `branch_ids` and won that field
 * (a change that lost the merge, or one from an older version without the field, leaves them),
 * and moves assignments waiting for a branch into `user_branches` when that branch arrives.
 * Returns whether it wrote. A malformed value is skipped rather than failing the pulled page: the
 * server's schema only knows the field is a string.
 */
export function applyUserBranches(
  db: WriteDb,
  change: ChangeRecord,
  merged: Readonly<Record<string, FieldState>>,
): boolean {
  if (change.entity === 'branch' && change.op === 'insert') return releasePending(db, change.rowId);
  if (change.entity !== 'user' || !Object.hasOwn(change.fields, 'branch_ids')) return false;
  if (merged.branch_ids?.hlc !== change.hlc) return false;
  const branchIds = parseJsonText(branchIdsSchema, merged.branch_ids.value);
  if (branchIds === undefined) return false;
  db.command('DELETE FROM user_branches WHERE user_id = ?').run([change.rowId]);
  db.command('DELETE FROM sync_pending_user_branches WHERE user_id = ?').run([change.rowId]);
  const known = db.query<{ one: number }>('SELECT 1 AS one FROM branches WHERE id = ?');
  const assign = db.command('INSERT INTO user_branches (user_id, branch_id) VALUES (?, ?)');
  // A branch not pulled yet waits (migration 0100): the foreign key would fail the whole page.
  const wait = db.command('INSERT INTO sync_pending_user_branches (user_id, branch_id) VALUES (?, ?)');
  for (const branchId of new Set(branchIds)) {
    (known.get([branchId]) ? assign : wait).run([change.rowId, branchId]);
  }
  return true;
}

/** Moves the assignments that waited for this branch into user_branches. */
function releasePending(db: WriteDb, branchId: string): boolean {
  if (!db.query<{ one: number }>('SELECT 1 AS one FROM branches WHERE id = ?').get([branchId])) return false;
  const moved = db
    .command(
      `INSERT OR IGNORE INTO user_branches (user_id, branch_id)
       SELECT p.user_id, p.branch_id FROM sync_pending_user_branches p
        WHERE p.branch_id = ? AND p.user_id IN (SELECT id FROM users)`,
    )
    .run([branchId]).changes;
  db.command('DELETE FROM sync_pending_user_branches WHERE branch_id = ?').run([branchId]);
  return moved > 0;
}
