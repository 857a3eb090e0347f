import { describe, expect, it } from 'vitest';
import { SYNC_SCHEMA_VERSION, type ChangeOp, type ChangeRecord, type FieldValue } from './change.js';
import { encodeHlc } from './hlc.js';
import { EMPTY_ROW_STATE, type RowState, isRowDeleted, isRowLive, mergeChange } from './merge.js';

const BASE_MS = 1_767_225_600_000;
const ROW_ID = '01JABCDEFGHJKMNPQRSTVWXYZ0';
let counter = 0;

/** A change of `entity` by `device` at BASE_MS + `at` ms. */
function change(
  device: string,
  at: number,
  op: ChangeOp,
  fields: Record<string, FieldValue>,
  entity: ChangeRecord['entity'] = 'patient',
): ChangeRecord {
  counter++;
  const id = `01JCHANGE${String(counter).padStart(17, '0')}`;
  return {
    changeId: id,
    txId: id,
    deviceId: device,
    userId: '01JAVTHR000000000000000000',
    entity,
    rowId: ROW_ID,
    op,
    fields,
    hlc: encodeHlc({ wallMs: BASE_MS + at, counter: 0, deviceId: device }),
    schemaVersion: SYNC_SCHEMA_VERSION,
  };
}

function apply(...changes: ChangeRecord[]): RowState {
  return changes.reduce((state, next) => mergeChange(state, next).state, EMPTY_ROW_STATE);
}

describe('mergeChange on mutable entities', () => {
  it('takes every field of an insert into an empty row and makes the row live', () => {
    const insert = change('A', 0, 'insert', { first_name: 'Asha', phone: null });
    const result = mergeChange(EMPTY_ROW_STATE, insert);
    expect(result).toEqual({
      state: {
        fields: { first_name: { value: 'Asha', hlc: insert.hlc }, phone: { value: null, hlc: insert.hlc } },
        insertedHlc: insert.hlc,
        deletedHlc: null,
      },
      conflicts: [],
      rejected: null,
    });
    expect(isRowLive(result.state)).toBe(true);
  });

  it('merges concurrent edits of different fields without a conflict', () => {
    const state = apply(
      change('A', 0, 'insert', { first_name: 'Asha', phone: null }),
      change('A', 5, 'update', { first_name: 'Ashaa' }),
    );
    const result = mergeChange(state, change('B', 3, 'update', { last_name: 'Rao' }));
    expect(result.conflicts).toEqual([]);
    expect(result.state.fields.first_name?.value).toBe('Ashaa');
    expect(result.state.fields.last_name?.value).toBe('Rao');
  });

  it('keeps the newer value and logs the value it displaced from another device', () => {
    const older = change('A', 1, 'update', { phone: '111111' });
    const newer = change('B', 2, 'update', { phone: '222222' });
    const result = mergeChange(apply(older), newer);
    expect(result.state.fields.phone).toEqual({ value: '222222', hlc: newer.hlc });
    expect(result.conflicts).toEqual([
      {
        entity: 'patient',
        rowId: ROW_ID,
        field: 'phone',
        losing: { value: '111111', hlc: older.hlc },
        winning: { value: '222222', hlc: newer.hlc },
      },
    ]);
  });

  it('logs an incoming value that arrives after a newer one from another device', () => {
    const older = change('A', 1, 'update', { phone: '111111' });
    const newer = change('B', 2, 'update', { phone: '222222' });
    const result = mergeChange(apply(newer), older);
    expect(result.state.fields.phone?.value).toBe('222222');
    expect(result.conflicts).toEqual([
      expect.objectContaining({ losing: { value: '111111', hlc: older.hlc }, winning: expect.anything() }),
    ]);
  });

  it('breaks a tie in wall time and counter by device id, through the clock order', () => {
    const fromA = change('A', 1, 'update', { phone: '111111' });
    const fromB = change('B', 1, 'update', { phone: '222222' });
    expect(apply(fromA, fromB).fields.phone?.value).toBe('222222');
    expect(apply(fromB, fromA).fields.phone?.value).toBe('222222');
  });

  it('does not log a value its own device overwrote later, nor a value equal to the winner', () => {
    expect(
      mergeChange(apply(change('A', 1, 'update', { phone: '1' })), change('A', 2, 'update', { phone: '2' })),
    ).toMatchObject({ conflicts: [] });
    expect(
      mergeChange(apply(change('A', 1, 'update', { phone: '1' })), change('B', 2, 'update', { phone: '1' })),
    ).toMatchObject({ conflicts: [] });
  });

  it('tombstones a row with a delete, and an update with a higher HLC does not bring it back', () => {
    const insert = change('A', 0, 'insert', { first_name: 'Asha' });
    const remove = change('A', 5, 'delete', {});
    const lateEdit = change('B', 9, 'update', { first_name: 'Asha R' });
    for (const state of [apply(insert, remove, lateEdit), apply(insert, lateEdit, remove)]) {
      expect(isRowDeleted(state)).toBe(true);
      expect(isRowLive(state)).toBe(false);
      // The edit's value is kept in the hidden field, not thrown away.
      expect(state.fields.first_name?.value).toBe('Asha R');
    }
  });

  it('undeletes only with an explicit insert newer than the tombstone', () => {
    const insert = change('A', 0, 'insert', { first_name: 'Asha' });
    const remove = change('A', 5, 'delete', {});
    expect(isRowLive(apply(insert, remove, change('B', 9, 'insert', {})))).toBe(true);
    expect(isRowLive(apply(insert, change('B', 3, 'insert', {}), remove))).toBe(false);
  });
});

describe('mergeChange on append-only entities', () => {
  const note = change('A', 0, 'insert', { body: 'Extraction 36, no complications' }, 'clinical_note');

  it('stores the insert once and treats a repeated delivery as a no-op', () => {
    const once = mergeChange(EMPTY_ROW_STATE, note);
    expect(once.rejected).toBeNull();
    expect(mergeChange(once.state, note)).toEqual({ state: once.state, conflicts: [], rejected: null });
  });

  it.each<[ChangeOp, string]>([
    ['update', 'append-only-update'],
    ['delete', 'append-only-delete'],
    ['insert', 'append-only-exists'],
  ])('refuses a later %s and leaves the record as written', (op, reason) => {
    const stored = apply(note);
    const result = mergeChange(stored, change('B', 9, op, { body: 'rewritten' }, 'clinical_note'));
    expect(result).toEqual({ state: stored, conflicts: [], rejected: reason });
  });
});
