import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChangeOp, ChangeRecord, FieldValue } from '../../shared/sync/change.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import { EMPTY_ROW_STATE, type RowState, isRowLive, mergeChange } from '../../shared/sync/merge.js';
import { type CompactionCandidate, compactionHorizon, planCompaction } from './change-compaction.js';

const RUNS = { seed: 4004, numRuns: 500 } as const;
const WALL = 1_767_225_600_000;
const ROWS = ['01JROW00000000000000000001', '01JROW00000000000000000002', '01JROW00000000000000000003'];
type Field = 'first_name' | 'last_name' | 'phone';

interface Draft {
  readonly rowId: string;
  readonly op: ChangeOp;
  readonly deviceId: string;
  readonly fields: Partial<Record<Field, FieldValue>>;
}

// Few rows, fields and values, many deletes and undeletes: supersession and tombstones both happen often.
const draft: fc.Arbitrary<Draft> = fc.record({
  rowId: fc.constantFrom(...ROWS),
  op: fc.constantFrom<ChangeOp>('insert', 'update', 'update', 'update', 'delete'),
  deviceId: fc.constantFrom('A', 'B'),
  fields: fc.record(
    {
      first_name: fc.constantFrom('Asha', 'Bela', null),
      last_name: fc.constantFrom('Rao', 'Iyer'),
      phone: fc.constant('1'),
    },
    { requiredKeys: ['first_name'] },
  ),
});

/** A log in arrival (server) order, each change with its own clock tick, and two horizons h1 <= h2. */
const log = fc
  .array(draft, { minLength: 1, maxLength: 30 })
  .chain((drafts) =>
    fc.tuple(
      fc.constant(drafts),
      // Clocks unrelated to arrival order: a change may arrive after one with a higher clock.
      fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: drafts.length, maxLength: drafts.length }),
      fc.integer({ min: 0, max: drafts.length }),
      fc.integer({ min: 0, max: drafts.length }),
    ),
  )
  .map(([drafts, ticks, x, y]) => ({
    changes: drafts.map((d, i): ChangeRecord => ({
      changeId: `01JCHG${String(i).padStart(20, '0')}`,
      txId: `01JTXN${String(i).padStart(20, '0')}`,
      deviceId: d.deviceId,
      userId: '01JUSER0000000000000000000',
      entity: 'patient',
      rowId: d.rowId,
      op: d.op,
      fields: d.fields,
      hlc: encodeHlc({ wallMs: WALL + ticks[i]!, counter: 0, deviceId: d.deviceId }),
      schemaVersion: 1,
    })),
    horizons: [Math.min(x, y), Math.max(x, y)] as const,
  }));

type Seq = number;
const candidates = (changes: ReadonlyMap<Seq, ChangeRecord>): CompactionCandidate[] =>
  [...changes].map(([serverSeq, change]) => ({
    serverSeq,
    entity: change.entity,
    rowId: change.rowId,
    op: change.op,
    hlc: change.hlc,
    fields: Object.keys(change.fields),
  }));

/** What a device shows of a row after applying these changes in server order: nothing unless live. */
function visible(changes: ReadonlyMap<Seq, ChangeRecord>, rowId: string) {
  let state: RowState = EMPTY_ROW_STATE;
  for (const change of changes.values()) if (change.rowId === rowId) state = mergeChange(state, change).state;
  return isRowLive(state) ? state.fields : null;
}

function compact(changes: Map<Seq, ChangeRecord>, horizon: number): number[] {
  const removed = planCompaction(candidates(changes), horizon);
  for (const seq of removed) changes.delete(seq);
  return removed;
}

describe('change-log compaction (property)', () => {
  it('leaves a log from which a new device shows every row exactly as a device that applied everything', () => {
    fc.assert(
      fc.property(log, ({ changes, horizons }) => {
        const full = new Map(changes.map((change, i) => [i + 1, change]));
        const rest = new Map(full);
        // Two runs, the second with a horizon at least as high: compaction builds on a compacted log.
        const removed = [...compact(rest, horizons[0]), ...compact(rest, horizons[1])];
        for (const seq of removed) expect(seq).toBeLessThanOrEqual(horizons[1]);
        for (const rowId of ROWS) expect(visible(rest, rowId)).toEqual(visible(full, rowId));
        // Inserts of rows live on every device are never removed.
        for (const seq of removed) {
          const change = full.get(seq)!;
          if (change.op === 'insert') expect(visible(full, change.rowId)).toBeNull();
        }
        // A second run with the same horizon removes nothing more.
        expect(compact(rest, horizons[1])).toEqual([]);
      }),
      RUNS,
    );
  });

  it('takes the lowest cursor of the non-revoked devices, counting a device that never pulled as 0', () => {
    expect(compactionHorizon([])).toBe(0);
    expect(compactionHorizon([{ revoked: true, pulledAfter: 9 }])).toBe(0);
    expect(
      compactionHorizon([
        { revoked: false, pulledAfter: 7 },
        { revoked: false, pulledAfter: 4 },
        { revoked: true, pulledAfter: 1 },
      ]),
    ).toBe(4);
    expect(
      compactionHorizon([
        { revoked: false, pulledAfter: 7 },
        { revoked: false, pulledAfter: null },
      ]),
    ).toBe(0);
  });
});
