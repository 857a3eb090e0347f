/**
 * Pruning this device's outbox (`sync_outbox`). A change the server accepted is in the clinic's
 * change log for every device to pull, so this device's copy of it is needed by nothing:
 *
 * - the push reads only changes neither acknowledged nor refused (sync-engine.ts);
 * - the conflicts inbox lists refused changes from their outbox rows (conflicts-inbox.ts), so a
 *   refused (quarantined or invalid) change stays, with its values, for the person who redoes it;
 * - the merge of pulled changes reads the field and row clocks, never the outbox;
 * - the audit trail names fields, never values, and holds no reference to outbox rows.
 *
 * So only accepted changes go: `pushed_at` set (the server acknowledged them, recorded in the same
 * transaction as its answer) and no `sync_refused` row. Migration 0140 enforces the same rule in
 * the database, so no other code path can delete a change that still has to be pushed. Pruning
 * runs after the push's own transaction committed: a crash in between leaves acknowledged rows
 * that the next prune removes, and never loses an unacknowledged one.
 */
import type { WriteDb } from '../db/access.js';

/** Rows deleted per transaction: a clinic's first push can acknowledge tens of thousands at once. */
export const OUTBOX_PRUNE_BATCH = 5000;

/** Deletes the outbox rows of changes the server accepted, in batches; returns how many went. */
export function pruneAcceptedOutbox(db: WriteDb, batchSize: number = OUTBOX_PRUNE_BATCH): number {
  const prune = db.command(
    `DELETE FROM sync_outbox WHERE change_id IN (
       SELECT change_id FROM sync_outbox o
        WHERE o.pushed_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM sync_refused r WHERE r.change_id = o.change_id)
        LIMIT ?)`,
  );
  // Nothing here must survive a power loss: a prune lost with the last commits is done again.
  db.setSynchronous('NORMAL');
  let total = 0;
  for (;;) {
    const deleted = db.transaction(() => prune.run([batchSize]).changes);
    total += deleted;
    if (deleted < batchSize) break;
  }
  // A transaction's signature goes with the last of its changes.
  db.transaction(() =>
    db.command('DELETE FROM sync_outbox_signatures WHERE tx_id NOT IN (SELECT tx_id FROM sync_outbox)').run([]),
  );
  return total;
}
