/**
 * Merging a duplicate patient record into the survivor (patients.merge; docs/sync-protocol.md,
 * "Domain conflicts"). Nothing is deleted: the duplicate keeps its id, number, medical history
 * and audit trail; it is archived with the merge's reason and linked to the survivor through the
 * replicated `merged_into` field, so every device links the two and marks their pair merged.
 */
import { ApiError } from '../api/api-error.js';
import type { RunContext } from '../api/handler.js';
import { refreshPatientPairs } from '../conflicts/patient-pairs.js';
import { readReplicatedFields, recordRowChange } from '../sync/change-recorder.js';
import { type PatientRow, findPatient } from './patients-repository.js';

/** Links and archives the duplicate; returns both rows as they are now. Runs in the pipeline's transaction. */
export function mergePatients(
  ctx: RunContext,
  survivor: PatientRow,
  duplicate: PatientRow,
  reason: string,
): { survivor: PatientRow; duplicate: PatientRow } {
  if (duplicate.merged_into !== null) {
    throw new ApiError('CONFLICT', 'This record was already merged into another patient.');
  }
  if (survivor.merged_into !== null) {
    throw new ApiError('CONFLICT', 'The surviving record was itself merged; merge into the record it points to.');
  }
  if (survivor.archived_at !== null) {
    throw new ApiError('CONFLICT', 'The surviving record is archived.');
  }
  const userId = ctx.caller!.userId;
  const before = readReplicatedFields(ctx.db, 'patient', duplicate.id, ctx.services.replication);
  ctx.db
    .command(
      `UPDATE patients SET merged_into = @survivorId, archived_at = coalesce(archived_at, @now),
         archive_reason = @reason, updated_at = @now, updated_by = @userId
       WHERE id = @duplicateId`,
    )
    .run({ survivorId: survivor.id, duplicateId: duplicate.id, reason, now: ctx.now, userId });
  recordRowChange(ctx, 'patient', duplicate.id, before);
  refreshPatientPairs(ctx.db, duplicate.id, ctx.now, userId);
  return { survivor: findPatient(ctx.db, survivor.id)!, duplicate: findPatient(ctx.db, duplicate.id)! };
}
