/**
 * refreshPatientPairs (patient-pairs.ts) for a join's in-memory merge (sync/join-apply.ts): the
 * same pairs, found the same way after each written patient change, but looked up in maps instead
 * of the table's indexes, and written once at the end. A pair found on the way stays recorded, as
 * it does when changes are applied one by one.
 */
import type { DuplicateReason } from '../../../shared/api/conflicts.js';
import type { WriteDb } from '../db/access.js';
import { orderedPair } from './patient-pairs.js';

/** What pairing needs of one patient row as it stands. */
export interface PatientPairKeys {
  readonly id: string;
  readonly patientNumber: string;
  readonly mergedInto: string | null;
  /** duplicateKey() of the row's current fields. */
  readonly duplicateKey: string | null;
}

interface Pair {
  readonly first: string;
  readonly second: string;
  readonly reason: DuplicateReason;
  merged: boolean;
}

export class PatientPairsInMemory {
  private readonly patients = new Map<string, PatientPairKeys>();
  // Ids by duplicate key and by number: arrays, since nearly every key has one patient.
  private readonly byKey = new Map<string, string[]>();
  private readonly byNumber = new Map<string, string[]>();
  /** Pairs by first, second and reason, in the order they were found. */
  private readonly pairs = new Map<string, Pair>();

  /** The duplicate key stored for a patient (patients.duplicate_key). */
  keyOf(id: string): string | null {
    return this.patients.get(id)?.duplicateKey ?? null;
  }

  /** After a patient row was written: re-index it and record the pairs it forms now. */
  refresh(id: string, keys: PatientPairKeys): void {
    const before = this.patients.get(id);
    if (before) {
      if (before.duplicateKey !== null) removeFromIndex(this.byKey, before.duplicateKey, id);
      removeFromIndex(this.byNumber, before.patientNumber, id);
    }
    this.patients.set(id, keys);
    if (keys.duplicateKey !== null) addToIndex(this.byKey, keys.duplicateKey, id);
    addToIndex(this.byNumber, keys.patientNumber, id);

    if (keys.duplicateKey !== null) this.record(keys, this.byKey.get(keys.duplicateKey)!, 'same-person');
    this.record(keys, this.byNumber.get(keys.patientNumber)!, 'same-number');
    if (keys.mergedInto !== null && this.patients.has(keys.mergedInto)) {
      // A merge of two records that were never paired (picked by hand) still shows as a merged pair.
      const [first, second] = orderedPair(id, keys.mergedInto);
      this.add(first, second, 'same-person');
      this.markMerged(first, second);
    }
  }

  /** Writes every pair found (patient_duplicates), after the patients; `now` as detection and resolution time. */
  write(db: WriteDb, now: number): void {
    const insert = db.command(
      `INSERT INTO patient_duplicates (first_id, second_id, reason, detected_at, status, resolved_at, resolved_by)
       VALUES (?, ?, ?, ?, ?, ?, NULL)`,
    );
    for (const pair of this.pairs.values()) {
      insert.run([
        pair.first,
        pair.second,
        pair.reason,
        now,
        pair.merged ? 'merged' : 'open',
        pair.merged ? now : null,
      ]);
    }
  }

  private record(row: PatientPairKeys, candidates: readonly string[], reason: DuplicateReason): void {
    for (const otherId of candidates) {
      if (otherId === row.id) continue;
      const other = this.patients.get(otherId)!;
      const [first, second] = orderedPair(row.id, otherId);
      this.add(first, second, reason);
      if (row.mergedInto === otherId || other.mergedInto === row.id) this.markMerged(first, second);
    }
  }

  private add(first: string, second: string, reason: DuplicateReason): void {
    const id = pairId(first, second, reason);
    if (!this.pairs.has(id)) this.pairs.set(id, { first, second, reason, merged: false });
  }

  /** Every pair of these two records becomes merged, as markMerged does. */
  private markMerged(first: string, second: string): void {
    for (const reason of ['same-person', 'same-number'] as const) {
      const pair = this.pairs.get(pairId(first, second, reason));
      if (pair) pair.merged = true;
    }
  }
}

function pairId(first: string, second: string, reason: DuplicateReason): string {
  return `${first}\u0000${second}\u0000${reason}`;
}

function addToIndex(map: Map<string, string[]>, key: string, id: string): void {
  const ids = map.get(key);
  if (!ids) map.set(key, [id]);
  else if (!ids.includes(id)) ids.push(id);
}

function removeFromIndex(map: Map<string, string[]>, key: string, id: string): void {
  const ids = map.get(key);
  const at = ids?.indexOf(id) ?? -1;
  if (at >= 0) ids!.splice(at, 1);
}
