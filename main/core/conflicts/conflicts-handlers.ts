/** The conflicts inbox channels: list what needs review, dismiss a pair that is two different people. */
import { conflictsDismissDuplicate, conflictsList } from '../../../shared/api/conflicts.js';
import { ApiError } from '../api/api-error.js';
import { type RunContext, handle } from '../api/handler.js';
import { orderedPair } from './patient-pairs.js';
import { type BranchScope, findPairRow, readConflictsInbox, readPair } from './conflicts-inbox.js';

function scopeOf(ctx: RunContext): BranchScope {
  const caller = ctx.caller!;
  return caller.allBranches ? null : new Set(caller.branchIds);
}

export const conflictsHandlers = {
  'conflicts.list': handle(conflictsList, {
    run(ctx, input) {
      const inbox = readConflictsInbox(ctx.db, { ...input, scope: scopeOf(ctx) });
      // Counts only; whether medical values were shown makes this a clinical read when true.
      ctx.audit.details = {
        duplicates: inbox.duplicates.length,
        fieldConflicts: inbox.fieldConflicts.length,
        refused: inbox.refused.length,
        medicalValues: ctx.can('medical.read') && inbox.fieldConflicts.some((conflict) => conflict.medical),
      };
      return inbox;
    },
  }),

  'conflicts.dismissDuplicate': handle(conflictsDismissDuplicate, {
    run(ctx, input) {
      const [first, second] = orderedPair(input.firstId, input.secondId);
      ctx.audit.entityId = first;
      ctx.audit.details = { firstId: first, secondId: second, reason: input.reason };
      const row = findPairRow(ctx.db, first, second, input.reason);
      if (!row || !readPair(ctx.db, row, scopeOf(ctx))) throw new ApiError('NOT_FOUND', 'There is no such pair.');
      if (row.status !== 'open') throw new ApiError('CONFLICT', 'This pair was already resolved.');
      ctx.db
        .command(
          `UPDATE patient_duplicates SET status = 'dismissed', resolved_at = ?, resolved_by = ?, note = ?
            WHERE first_id = ? AND second_id = ? AND reason = ?`,
        )
        .run([ctx.now, ctx.caller!.userId, input.note, first, second, input.reason]);
      return readPair(ctx.db, findPairRow(ctx.db, first, second, input.reason)!, null)!;
    },
  }),
};
