/**
 * The storage-independent half of appending a batch of changes: deciding which changes are new
 * and which a re-push already stored, and numbering the new ones. Each storage runs this inside
 * its transaction, after locking the clinic's change counter, so the decision sees every
 * committed batch.
 */
import { canonicalJson } from '../../shared/canonical-json.js';
import { toHex } from '../../shared/hashing.js';
import { ChangeConflictError } from './errors.js';
import { nodeSha256 } from './node-crypto.js';
import type { AppendedChange, ChangeInput } from './records.js';

const CONTENT_DOMAIN = 'chairside/change/v1\n';

/** A change already stored under an id of the batch. */
export interface StoredChangeDigest {
  readonly serverSeq: number;
  readonly contentHash: string;
}

/** A new change with the number it is stored under. */
export interface NumberedChange {
  readonly change: ChangeInput;
  readonly contentHash: string;
  readonly fieldsJson: string;
  readonly serverSeq: number;
}

/** What to insert, and the answer to give the device. */
export interface ChangeAppendPlan {
  readonly fresh: readonly NumberedChange[];
  readonly result: readonly AppendedChange[];
}

/** Canonical JSON of a change's fields: what is stored, so equal fields are equal text. */
export function canonicalFields(change: ChangeInput): string {
  return canonicalJson(change.fields);
}

/** SHA-256 of the canonical change: a re-push must match it exactly to count as the same change. */
export function changeContentHash(change: ChangeInput, fieldsJson: string = canonicalFields(change)): string {
  return toHex(nodeSha256(CONTENT_DOMAIN, canonicalChangeJson(change, fieldsJson)));
}

/**
 * `canonicalJson(change)` from the canonical JSON of its fields, so a new change's fields are
 * canonicalised once (they are both stored and hashed). A change holds exactly these keys
 * (changeInputSchema is strict, all required), listed here in canonical (sorted) order; its
 * other values are strings and a safe integer, whose canonical forms are JSON.stringify's.
 */
export function canonicalChangeJson(change: ChangeInput, fieldsJson: string): string {
  return (
    `{"changeId":${JSON.stringify(change.changeId)},"deviceId":${JSON.stringify(change.deviceId)},` +
    `"entity":${JSON.stringify(change.entity)},"fields":${fieldsJson},"hlc":${JSON.stringify(change.hlc)},` +
    `"op":${JSON.stringify(change.op)},"rowId":${JSON.stringify(change.rowId)},` +
    `"schemaVersion":${canonicalJson(change.schemaVersion)},"txId":${JSON.stringify(change.txId)},` +
    `"userId":${JSON.stringify(change.userId)}}`
  );
}

/** How many changes of the batch are not stored yet (throws ChangeConflictError on a changed re-push). */
export function countFreshChanges(
  changes: readonly ChangeInput[],
  stored: ReadonlyMap<string, StoredChangeDigest>,
): number {
  let fresh = 0;
  for (const change of changes) {
    const existing = stored.get(change.changeId);
    if (!existing) fresh++;
    else if (existing.contentHash !== changeContentHash(change)) throw new ChangeConflictError(change.changeId);
  }
  return fresh;
}

/**
 * Numbers the new changes of a batch, in batch order, from `firstSeq` (the counter's value
 * before the batch plus one); stored ones keep their number.
 */
export function planChangeAppend(
  changes: readonly ChangeInput[],
  stored: ReadonlyMap<string, StoredChangeDigest>,
  firstSeq: number,
): ChangeAppendPlan {
  const fresh: NumberedChange[] = [];
  const result: AppendedChange[] = [];
  let next = firstSeq;
  for (const change of changes) {
    const existing = stored.get(change.changeId);
    const fieldsJson = canonicalFields(change);
    const contentHash = changeContentHash(change, fieldsJson);
    if (existing) {
      if (existing.contentHash !== contentHash) throw new ChangeConflictError(change.changeId);
      result.push({ changeId: change.changeId, serverSeq: existing.serverSeq, inserted: false });
      continue;
    }
    fresh.push({ change, contentHash, fieldsJson, serverSeq: next });
    result.push({ changeId: change.changeId, serverSeq: next, inserted: true });
    next++;
  }
  return { fresh, result };
}
