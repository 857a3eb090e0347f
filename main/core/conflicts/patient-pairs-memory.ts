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
  private readonly byKey = new Map<string, Set<string>>();
  private readonly byNumber = new Map<string, Set<string>>();
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
      if (before.duplicateKey !== null) this.byKey.get(before.duplicateKey)?.delete(id);
      this.byNumber.get(before.patientNumber)?.delete(id);
    }
    this.patients.set(id, keys);
    if (keys.duplicateKey !== null) setOf(this.byKey, keys.duplicateKey).add(id);
    setOf(this.byNumber, keys.patientNumber).add(id);

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

  private record(row: PatientPairKeys, candidates: ReadonlySet<string>, reason: DuplicateReason): void {
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

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
