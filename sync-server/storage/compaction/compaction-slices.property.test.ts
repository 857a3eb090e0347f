/**
 * Compaction in slices (compaction-slices.ts) against an in-memory log, with changes arriving
 * between slices: whatever the slice sizes and wherever the late changes land, a device that pulls
 * the log at any moment of the compaction, or after it, shows every row exactly as a device that
 * applied everything (shared/sync/merge.ts), and a compaction with nothing written meanwhile
 * removes exactly what the one-shot plan (change-compaction.ts) removes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChangeOp, ChangeRecord } from '../../../shared/sync/change.js';
import { encodeHlc } from '../../../shared/sync/hlc.js';
import { EMPTY_ROW_STATE, type RowState, isRowLive, mergeChange } from '../../../shared/sync/merge.js';
import { type CompactionRow, planCompaction } from '../change-compaction.js';
import { type CompactionSlicePort, compactInSlices, rowKey } from './compaction-slices.js';

const RUNS = { seed: 5005, numRuns: 1000 } as const;
const WALL = 1_767_225_600_000;
const ROWS = ['01JROW00000000000000000001', '01JROW00000000000000000002', '01JROW00000000000000000003'];

interface Draft {
  readonly rowId: string;
  readonly op: ChangeOp;
  readonly firstName: string | null;
  readonly tick: number;
}

// Few rows, many deletes and undeletes: supersession and tombstones both happen often.
const draft: fc.Arbitrary<Draft> = fc.record({
  rowId: fc.constantFrom(...ROWS),
  op: fc.constantFrom<ChangeOp>('insert', 'update', 'update', 'delete'),
  firstName: fc.constantFrom('Asha', 'Bela', null),
  // Clocks unrelated to arrival order: a late change may carry an old clock (an offline device).
  tick: fc.integer({ min: 1, max: 10_000 }),
});

const scenario = fc.record({
  seeded: fc.array(draft, { minLength: 1, maxLength: 25 }),
  late: fc.array(fc.tuple(draft, fc.nat({ max: 4 })), { maxLength: 6 }),
  horizonShare: fc.double({ min: 0, max: 1, noNaN: true }),
  readPage: fc.integer({ min: 1, max: 8 }),
  changesPerSlice: fc.integer({ min: 1, max: 8 }),
});

function toChange(d: Draft, i: number): ChangeRecord {
  return {
    changeId: `01JCHG${String(i).padStart(20, '0')}`,
    txId: `01JTXN${String(i).padStart(20, '0')}`,
    deviceId: 'A',
    userId: '01JUSER0000000000000000000',
    entity: 'patient',
    rowId: d.rowId,
    op: d.op,
    fields: { first_name: d.firstName },
    // The index breaks ties between equal ticks, as a device's counter would.
    hlc: encodeHlc({ wallMs: WALL + d.tick, counter: i, deviceId: 'A' }),
    schemaVersion: 1,
  };
}

/** What a device shows of a row after applying these changes in server order: nothing unless live. */
function visible(log: ReadonlyMap<number, ChangeRecord>, rowId: string) {
  let state: RowState = EMPTY_ROW_STATE;
  for (const seq of [...log.keys()].sort((a, b) => a - b)) {
    const change = log.get(seq)!;
    if (change.rowId === rowId) state = mergeChange(state, change).state;
  }
  return isRowLive(state) ? state.fields : null;
}

const rowOf = (serverSeq: number, change: ChangeRecord): CompactionRow => ({
  server_seq: serverSeq,
  entity: change.entity,
  row_id: change.rowId,
  op: change.op,
  hlc: change.hlc,
  fields: JSON.stringify(change.fields),
});

/** A port over an in-memory log, whose every transaction runs whole (as SQLite's do). */
function memoryPort(log: Map<number, ChangeRecord>, horizon: number): CompactionSlicePort {
  const head = () => Math.max(0, ...log.keys());
  const sorted = () => [...log.entries()].sort(([a], [b]) => a - b);
  return {
    start: async () => ({ horizon, head: head() }),
    readCandidates: async (after, upTo, limit) =>
      sorted()
        .filter(([seq]) => seq > after && seq <= upTo)
        .slice(0, limit)
        .map(([seq, change]) => rowOf(seq, change)),
    removeSlice: async (checkedThrough, choose) => {
      const writtenRows = sorted()
        .filter(([seq]) => seq > checkedThrough)
        .map(([, change]) => rowKey(change.entity, change.rowId));
      const chosen = choose({ horizon, writtenRows, checkedThrough: head() });
      if (chosen === null) return null;
      let removed = 0;
      for (const seq of chosen) if (log.delete(seq)) removed++;
      return { removed, checkedThrough: head() };
    },
    countChanges: async (after, upTo) =>
      [...log.keys()].filter((seq) => seq > after && (upTo === null || seq <= upTo)).length,
  };
}

describe('change-log compaction in slices (property)', () => {
  it('keeps every row as a full replay shows it, at every slice and after, with changes arriving meanwhile', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ seeded, late, horizonShare, readPage, changesPerSlice }) => {
        const log = new Map(seeded.map((d, i) => [i + 1, toChange(d, i + 1)]));
        const full = new Map(log);
        const horizon = Math.floor(horizonShare * seeded.length);
        let pauses = 0;
        const pause = async () => {
          // A pull now: the log as it stands shows what the full log (so far) shows.
          for (const rowId of ROWS) expect(visible(log, rowId)).toEqual(visible(full, rowId));
          for (const [d, at] of late) {
            if (at !== pauses) continue;
            const seq = full.size + 1;
            const change = toChange(d, seq);
            log.set(seq, change);
            full.set(seq, change);
          }
          pauses++;
        };
        const result = await compactInSlices(memoryPort(log, horizon), { readPage, changesPerSlice, pause });

        for (const rowId of ROWS) expect(visible(log, rowId)).toEqual(visible(full, rowId));
        expect(result.kept).toBe(log.size);
        for (const seq of full.keys()) if (!log.has(seq)) expect(seq).toBeLessThanOrEqual(horizon);
      }),
      RUNS,
    );
  });

  it('removes exactly what the one-shot plan removes when nothing is written meanwhile', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ seeded, horizonShare, readPage, changesPerSlice }) => {
        const log = new Map(seeded.map((d, i) => [i + 1, toChange(d, i + 1)]));
        const horizon = Math.floor(horizonShare * seeded.length);
        const planned = planCompaction(
          [...log].map(([serverSeq, change]) => ({
            serverSeq,
            entity: change.entity,
            rowId: change.rowId,
            op: change.op,
            hlc: change.hlc,
            fields: Object.keys(change.fields),
          })),
          horizon,
        );
        const before = new Set(log.keys());
        const pause = async () => undefined;
        const result = await compactInSlices(memoryPort(log, horizon), { readPage, changesPerSlice, pause });
        expect([...before].filter((seq) => !log.has(seq))).toEqual(planned);
        expect(result).toEqual({ horizon, removed: planned.length, kept: before.size - planned.length });
      }),
      RUNS,
    );
  });
});
