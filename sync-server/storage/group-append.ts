/**
 * The storage-independent half of committing a group of change batches in one transaction
 * (group-commit.ts): each batch is decided in order against the change ids stored before the
 * group and those of the group's earlier batches, before anything is written, so a refused batch
 * (its device unknown or revoked, a re-push with other content) writes nothing and needs no
 * savepoint, and the others are numbered one after another from the counter's value. Each
 * storage runs this inside its transaction, after locking the clinic's change counter.
 */
import { type NumberedChange, type StoredChangeDigest, countFreshChanges, planChangeAppend } from './change-append.js';
import { ChangeConflictError } from './errors.js';
import type { GroupOutcome } from './group-commit.js';
import type { ParsedChangeBatch } from './parsed-changes.js';
import type { AppendChangesResult } from './records.js';

/** What to insert for a group, each batch's outcome, and the counter's value after it. */
export interface GroupAppendPlan {
  readonly inserts: readonly NumberedChange[];
  readonly outcomes: Array<GroupOutcome<AppendChangesResult>>;
  readonly counter: number;
}

/**
 * Plans a group. `stored` holds the stored changes among the group's ids (it is extended with the
 * group's new changes, so a later batch repeating them is answered as a re-push); `refusedDevices`
 * the refusal of each device that may not append; `counter` the change counter's locked value.
 */
export function planGroupAppend(
  batches: readonly ParsedChangeBatch[],
  stored: Map<string, StoredChangeDigest>,
  refusedDevices: ReadonlyMap<string, unknown>,
  counter: number,
): GroupAppendPlan {
  const inserts: NumberedChange[] = [];
  const outcomes: Array<GroupOutcome<AppendChangesResult>> = [];
  let next = counter;
  for (const batch of batches) {
    const deviceRefusal = refusedDevices.get(batch.deviceId);
    if (deviceRefusal !== undefined) {
      outcomes.push({ ok: false, error: deviceRefusal });
      continue;
    }
    // A conflicting re-push is refused before anything of it is planned; the group goes on.
    let fresh: number;
    try {
      fresh = countFreshChanges(batch.changes, stored);
    } catch (error) {
      if (!(error instanceof ChangeConflictError)) throw error;
      outcomes.push({ ok: false, error });
      continue;
    }
    const plan = planChangeAppend(batch.changes, stored, next + 1);
    next += fresh;
    for (const numbered of plan.fresh) {
      inserts.push(numbered);
      stored.set(numbered.change.changeId, { serverSeq: numbered.serverSeq, contentHash: numbered.contentHash });
    }
    outcomes.push({ ok: true, value: { changes: plan.result } });
  }
  return { inserts, outcomes, counter: next };
}
