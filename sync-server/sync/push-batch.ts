/**
 * One pushed batch (one local transaction) through re-validation: accepted into the change log,
 * quarantined as a whole, or held back for a clock ahead of the server's. A re-push of a batch
 * gets the same answer: an accepted batch its server numbers, a quarantined one its stored
 * reasons (looked up before re-validating, so a role changed since does not change the answer).
 */
import type { AppendedChange, ChangeInput, ClinicStore, QuarantineReason } from '../storage/storage.js';
import { type BatchReads, storeReads } from './push-reads.js';
import { type BatchSignature, type SignatureVerifier, ed25519Verifier } from './batch-signature.js';
import { type ChangeRefusal, decideBatch, patientsToPlace, touchesPatientNumbers } from './validate-batch.js';

/** One verifier per process: it keeps the parsed public keys of recent signers. */
const verifySignature = ed25519Verifier();

/** The answer for one batch. */
export type BatchOutcome =
  | { readonly txId: string; readonly status: 'accepted'; readonly changes: readonly AppendedChange[] }
  | { readonly txId: string; readonly status: 'quarantined'; readonly changes: readonly ChangeRefusal[] }
  | { readonly txId: string; readonly status: 'retry'; readonly changes: readonly ChangeRefusal[] };

/** What a quarantine decision left for the caller to record as a security event. */
export interface PushSideEffects {
  /** Reasons of a batch quarantined now (not on a re-push) that deserve a security event. */
  readonly securityReasons: readonly QuarantineReason[];
}

/** A batch's finished answer, and what it leaves for the caller to record. */
export interface PushedBatch {
  readonly outcome: BatchOutcome;
  readonly effects: PushSideEffects;
}

/**
 * A started batch: finished, or (with `pipelined`) an accepted batch whose append was submitted and
 * commits with the batches submitted after it (storage group commit); the caller awaits `pending`.
 */
export type StartedBatch = PushedBatch | { readonly pending: Promise<BatchOutcome> };

/** Pushes one batch; throws the storage's typed errors (conflict, revoked device). */
export async function pushBatch(
  store: ClinicStore,
  deviceId: string,
  txId: string,
  changes: readonly ChangeInput[],
  nowMs: number,
  maxClockAheadMs?: number,
  /** The lookups re-validation needs; a push of many batches shares them (push-reads.ts). */
  reads: BatchReads = storeReads(store, deviceId),
  /** The batch's user signature (batch-signature.ts). */
  signed: BatchSignature = {},
): Promise<PushedBatch> {
  const started = await startBatch(store, deviceId, txId, changes, nowMs, maxClockAheadMs, reads, false, signed);
  return 'pending' in started ? { outcome: await started.pending, effects: { securityReasons: [] } } : started;
}

/**
 * Re-validates a batch and starts writing its outcome. With `pipelined`, an accepted batch that
 * changes no user's role is returned as soon as its append is submitted: deciding it changed
 * nothing a later batch's decision reads, so the caller may decide the next batch meanwhile.
 */
export async function startBatch(
  store: ClinicStore,
  deviceId: string,
  txId: string,
  changes: readonly ChangeInput[],
  nowMs: number,
  maxClockAheadMs: number | undefined,
  reads: BatchReads,
  pipelined: boolean,
  signed: BatchSignature = {},
  /** Verifies the batch's signature; the push route's answers from the worker pool first (preverify.ts). */
  verify: SignatureVerifier = verifySignature,
): Promise<StartedBatch> {
  const none: PushSideEffects = { securityReasons: [] };
  const ids = changes.map((change) => change.changeId);
  const accept = async (): Promise<BatchOutcome> => {
    const result = await store.appendChanges({ deviceId, txId, changes: [...changes] });
    return { txId, status: 'accepted', changes: result.changes };
  };
  const quarantine = async (refusals: ReadonlyMap<string, ChangeRefusal>, fresh: boolean) => {
    const result = await store.quarantineChanges({
      deviceId,
      txId,
      entries: changes.map((change) => {
        const refusal = refusals.get(change.changeId);
        const reason: QuarantineReason = refusal && refusal.reason !== 'clock-ahead' ? refusal.reason : 'with-batch';
        return { change, reason, detail: refusal?.detail ?? '' };
      }),
    });
    if (result.outcome === 'alreadyAccepted') return { outcome: await accept(), effects: none };
    reads.invalidate();
    const outcome: BatchOutcome = {
      txId,
      status: 'quarantined',
      changes: result.changes.map((row) => ({ changeId: row.changeId, reason: row.reason, detail: row.detail })),
    };
    const securityReasons = fresh
      ? [...new Set(result.changes.map((row) => row.reason))].filter(
          (reason) => reason === 'forbidden' || reason === 'unknown-user',
        )
      : [];
    return { outcome, effects: { securityReasons } };
  };

  const stored = await reads.quarantined(ids);
  if (stored.length > 0) {
    return quarantine(new Map(stored.map((row) => [row.changeId, { ...row }])), false);
  }
  const userIds = [
    ...new Set([...changes.map((change) => change.userId), ...(signed.signedBy ? [signed.signedBy] : [])]),
  ];
  const directory = await reads.directory(userIds);
  // The device's number is read only for batches that carry patient numbers.
  const deviceNumber = touchesPatientNumbers(changes) ? await reads.deviceNumber() : null;
  // Patients' branches are read for branch-limited authors and for medical histories inserted
  // without their patient.
  const toPlace = patientsToPlace(changes, directory);
  const branches = toPlace.length > 0 ? await reads.patientBranches(toPlace) : new Map<string, string>();
  const decision = decideBatch(changes, directory, nowMs, maxClockAheadMs, deviceNumber, branches, {
    txId,
    signed,
    verify,
  });
  switch (decision.kind) {
    case 'accept': {
      if (pipelined && decision.directoryUpdates.length === 0) return { pending: accept() };
      const outcome = await accept();
      // After the append: a crash in between leaves the directory behind the log, and the
      // device, not having been answered, pushes again, which re-applies these (idempotent).
      if (decision.directoryUpdates.length > 0) {
        await store.updateUserDirectory(decision.directoryUpdates);
        reads.invalidate();
      }
      return { outcome, effects: none };
    }
    case 'quarantine':
      return quarantine(new Map(decision.refusals.map((refusal) => [refusal.changeId, refusal])), true);
    case 'retry':
      return { outcome: { txId, status: 'retry', changes: decision.refusals }, effects: none };
  }
}
