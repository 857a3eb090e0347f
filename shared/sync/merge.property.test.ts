import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical-json.js';
import { SYNC_SCHEMA_VERSION, type ChangeOp, type ChangeRecord, type FieldValue } from './change.js';
import { encodeHlc } from './hlc.js';
import { type ConflictEntry, EMPTY_ROW_STATE, type RowState, isRowDeleted, mergeChange } from './merge.js';

const RUNS = { seed: 2011, numRuns: 400 } as const;
const BASE_MS = 1_767_225_600_000;
const ROW_ID = '01JABCDEFGHJKMNPQRSTVWXYZ0';
const USER_ID = '01JAVTHR000000000000000000';
const FIELDS = ['first_name', 'last_name', 'phone'] as const;

// Three devices, a handful of wall times and counters, and few values: ties in wall time, equal
// values and same-device overwrites all happen often.
const device = fc.constantFrom('A', 'B', 'C');
const value: fc.Arbitrary<FieldValue> = fc.constantFrom('Asha', 'Bela', 'Chandra', null);
const op: fc.Arbitrary<ChangeOp> = fc.constantFrom('insert', 'update', 'update', 'update', 'delete');

interface Draft {
  readonly deviceId: string;
  readonly wallMs: number;
  readonly counter: number;
  readonly op: ChangeOp;
  readonly fields: Partial<Record<(typeof FIELDS)[number], FieldValue>>;
}

const draft: fc.Arbitrary<Draft> = fc.record({
  deviceId: device,
  wallMs: fc.integer({ min: BASE_MS, max: BASE_MS + 4 }),
  counter: fc.integer({ min: 0, max: 3 }),
  op,
  fields: fc.record(
    { first_name: value, last_name: value, phone: value },
    { requiredKeys: ['first_name'] }, // an update changes at least one field
  ),
});

let changeCounter = 0;
function toChange(d: Draft): ChangeRecord {
  changeCounter++;
  const id = `01JCHANGE${String(changeCounter).padStart(17, '0')}`;
  return {
    changeId: id,
    txId: id,
    deviceId: d.deviceId,
    userId: USER_ID,
    entity: 'patient',
    rowId: ROW_ID,
    op: d.op,
    fields: d.fields as Record<string, FieldValue>,
    hlc: encodeHlc({ wallMs: d.wallMs, counter: d.counter, deviceId: d.deviceId }),
    schemaVersion: SYNC_SCHEMA_VERSION,
  };
}

// One change per HLC: a device never stamps two writes with one timestamp.
const changes = fc
  .uniqueArray(draft, { minLength: 1, maxLength: 12, selector: (d) => `${d.wallMs}/${d.counter}/${d.deviceId}` })
  .map((drafts) => drafts.map(toChange));

/** The changes, shuffled, with some delivered more than once. */
function deliveries(list: readonly ChangeRecord[]): fc.Arbitrary<ChangeRecord[]> {
  const indexes = list.map((_, index) => index);
  return fc
    .tuple(
      fc.shuffledSubarray(indexes, { minLength: list.length, maxLength: list.length }),
      fc.array(fc.integer({ min: 0, max: list.length - 1 }), { maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 6 }),
    )
    .map(([order, repeats, positions]) => {
      const sequence = order.map((index) => list[index]!);
      repeats.forEach((index, n) => sequence.splice((positions[n] ?? 0) % (sequence.length + 1), 0, list[index]!));
      return sequence;
    });
}

const withDeliveries = changes.chain((list) => fc.tuple(fc.constant(list), deliveries(list), deliveries(list)));

/** Merges changes in order; returns the state and every conflict entry produced. */
function replay(sequence: readonly ChangeRecord[]): { state: RowState; conflicts: ConflictEntry[] } {
  let state = EMPTY_ROW_STATE;
  const conflicts: ConflictEntry[] = [];
  for (const change of sequence) {
    const result = mergeChange(state, change);
    expect(result.rejected).toBeNull();
    state = result.state;
    conflicts.push(...result.conflicts);
  }
  return { state, conflicts };
}

const canonicalState = (state: RowState) => canonicalJson(state as never);
const deviceOf = (hlc: string) => hlc.slice(18);

describe('merge properties', () => {
  it('converges: the same changes in any order, with duplicates, give identical state', () => {
    fc.assert(
      fc.property(withDeliveries, ([, first, second]) => {
        expect(canonicalState(replay(first).state)).toBe(canonicalState(replay(second).state));
      }),
      RUNS,
    );
  });

  it('is idempotent: merging a change a second time changes nothing and logs nothing new', () => {
    fc.assert(
      fc.property(withDeliveries, fc.nat(), ([list, sequence], pick) => {
        const prefix = sequence.slice(0, pick % (sequence.length + 1));
        const change = list[pick % list.length]!;
        const once = mergeChange(replay(prefix).state, change);
        const twice = mergeChange(once.state, change);
        expect(canonicalState(twice.state)).toBe(canonicalState(once.state));
        // A stale change loses again to the same winner: the same entries, which a log keyed by
        // (entity, rowId, field, losing HLC) stores once.
        for (const entry of twice.conflicts) expect(once.conflicts).toContainEqual(entry);
        expect(mergeChange(twice.state, change).conflicts).toEqual(twice.conflicts);
      }),
      RUNS,
    );
  });

  it('keeps, per field, the value of the write with the highest HLC, and the highest insert and delete', () => {
    fc.assert(
      fc.property(withDeliveries, ([list, sequence]) => {
        const { state } = replay(sequence);
        for (const field of FIELDS) {
          const writes = list.filter((change) => field in change.fields);
          const newest = writes.reduce<ChangeRecord | undefined>((a, b) => (!a || b.hlc > a.hlc ? b : a), undefined);
          expect(state.fields[field]).toEqual(newest ? { value: newest.fields[field], hlc: newest.hlc } : undefined);
        }
        const highest = (kind: ChangeOp) =>
          list
            .filter((change) => change.op === kind)
            .map((change) => change.hlc)
            .sort()
            .at(-1) ?? null;
        expect(state.insertedHlc).toBe(highest('insert'));
        expect(state.deletedHlc).toBe(highest('delete'));
        // Updates never resurrect: the row is deleted exactly when its highest delete outranks its highest insert.
        const [inserted, deleted] = [highest('insert'), highest('delete')];
        expect(isRowDeleted(state)).toBe(deleted !== null && (inserted === null || deleted > inserted));
      }),
      RUNS,
    );
  });

  it('loses no value: every overwritten value is logged exactly when a different device overwrote it', () => {
    fc.assert(
      fc.property(withDeliveries, ([list, sequence]) => {
        const { state, conflicts } = replay(sequence);
        const logged = new Map<string, ConflictEntry>();
        for (const entry of conflicts) {
          // An entry names a real, non-winning write, lost to a different value from another device.
          expect(deviceOf(entry.losing.hlc)).not.toBe(deviceOf(entry.winning.hlc));
          expect(entry.losing.value).not.toBe(entry.winning.value);
          expect(entry.winning.hlc > entry.losing.hlc).toBe(true);
          const write = list.find((change) => change.hlc === entry.losing.hlc);
          expect(write?.fields[entry.field]).toBe(entry.losing.value);
          expect(state.fields[entry.field]?.hlc).not.toBe(entry.losing.hlc);
          logged.set(`${entry.field}@${entry.losing.hlc}`, entry);
        }
        for (const change of list) {
          for (const [field, written] of Object.entries(change.fields)) {
            if (state.fields[field]?.hlc === change.hlc) continue; // the winner
            if (logged.has(`${field}@${change.hlc}`)) continue;
            // Not logged: a later write of the same device superseded it, or it lost to an equal value.
            const excused = list.some(
              (other) =>
                other.hlc > change.hlc &&
                field in other.fields &&
                (deviceOf(other.hlc) === change.deviceId || other.fields[field] === written),
            );
            expect(excused, `${field} of ${change.hlc} vanished without a conflict entry`).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('never overwrites an append-only record: whatever arrives, in any order, the insert stays as written', () => {
    const appendOnly = changes.map((list) => {
      const [first, ...rest] = list;
      // One insert per record (ids are ULIDs); every other change is an update or a delete.
      return [
        { ...first!, entity: 'clinical_note' as const, op: 'insert' as const },
        ...rest.map((change) => ({
          ...change,
          entity: 'clinical_note' as const,
          op: change.op === 'insert' ? ('update' as const) : change.op,
        })),
      ];
    });
    fc.assert(
      fc.property(
        appendOnly.chain((list) => fc.tuple(fc.constant(list), deliveries(list))),
        ([list, sequence]) => {
          let state = EMPTY_ROW_STATE;
          for (const change of sequence) {
            const result = mergeChange(state, change);
            expect(result.rejected).toBe(change.op === 'insert' ? null : `append-only-${change.op}`);
            expect(result.conflicts).toEqual([]);
            state = result.state;
          }
          const insert = list[0]!;
          expect(state.insertedHlc).toBe(insert.hlc);
          expect(state.deletedHlc).toBeNull();
          expect(Object.fromEntries(Object.entries(state.fields).map(([field, { value }]) => [field, value]))).toEqual(
            insert.fields,
          );
        },
      ),
      RUNS,
    );
  });
});
