/**
 * Writes a pulled user's branch assignments back to `user_branches` (docs/sync-protocol.md, "The
 * user directory"). The assignment travels as the user's `branch_ids` field, the canonical JSON of
 * the sorted branch id list (change-recorder.ts computes it from the same table), so a device that
 * joined the clinic restricts that user to the same branches as every other device.
 *
 * Called by sync-apply once the merge decided the row, inside the pull's transaction.
 */
import { z } from 'zod';
import type { ChangeRecord } from '../../../shared/sync/change.js';
import type { FieldState } from '../../../shared/sync/merge.js';
import type { WriteDb } from '../db/access.js';

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
  const value = merged.branch_ids.value;
  if (typeof value !== 'string') return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return false;
  }
  const branchIds = branchIdsSchema.safeParse(parsed);
  if (!branchIds.success) return false;
  db.command('DELETE FROM user_branches WHERE user_id = ?').run([change.rowId]);
  db.command('DELETE FROM sync_pending_user_branches WHERE user_id = ?').run([change.rowId]);
  const known = db.query<{ one: number }>('SELECT 1 AS one FROM branches WHERE id = ?');
  const assign = db.command('INSERT INTO user_branches (user_id, branch_id) VALUES (?, ?)');
  // A branch not pulled yet waits (migration 0100): the foreign key would fail the whole page.
  const wait = db.command('INSERT INTO sync_pending_user_branches (user_id, branch_id) VALUES (?, ?)');
  for (const branchId of new Set(branchIds.data)) {
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
