/**
 * The clocks a device keeps for each replicated row (migration 0050, compacted by 0120): the
 * row's highest insert and delete HLC in `sync_row_clock`, and in `sync_field_clock` the HLC of
 * the newest update of each field.
 *
 * An insert sets every field of its row, so the row's insert clock is each field's clock until an
 * update raises it: inserts store no field rows, and a field's clock is the newer of its own row
 * and the insert clock. That keeps one clock row per replicated row instead of one per field
 * (17 per patient with its medical history): a new device joining a clinic of 100,000 patients
 * would otherwise write 1.7 million clock rows before it could be used.
 *
 * A field the insert did not carry (a field added to the entity later, absent from an older
 * version's insert) was stored as null by that insert, so it too carries the insert clock.
 */
import type { ChangeRecord, EntityName, FieldValue } from '../../../shared/sync/change.js';
import type { FieldState, RowState } from '../../../shared/sync/merge.js';
import type { ReadDb, WriteDb } from '../db/access.js';

/** A row's stored insert and delete clocks. */
export interface StoredRowClock {
  readonly insertedHlc: string | null;
  readonly deletedHlc: string | null;
}

/**
 * What the device knows about one row, for the merge: each stored field's value with its clock
 * (fields with no clock at all, e.g. of a row that predates the clinic's first sync, are left
 * out, so any remote value wins them).
 */
export function readRowState(
  db: ReadDb,
  entity: EntityName,
  rowId: string,
  values: Readonly<Record<string, FieldValue>> | undefined,
): RowState {
  const rowClock = db
    .query<{ inserted_hlc: string | null; deleted_hlc: string | null }>(
      'SELECT inserted_hlc, deleted_hlc FROM sync_row_clock WHERE entity = ? AND row_id = ?',
    )
    .get([entity, rowId]);
  const updated = new Map(
    db
      .query<{ field: string; hlc: string }>('SELECT field, hlc FROM sync_field_clock WHERE entity = ? AND row_id = ?')
      .all([entity, rowId])
      .map(({ field, hlc }) => [field, hlc]),
  );
  return rowStateOf(
    values,
    { insertedHlc: rowClock?.inserted_hlc ?? null, deletedHlc: rowClock?.deleted_hlc ?? null },
    updated,
  );
}

/** The merge's view of a row from its values, row clock and field update clocks. */
export function rowStateOf(
  values: Readonly<Record<string, FieldValue>> | undefined,
  rowClock: StoredRowClock,
  updated: ReadonlyMap<string, string>,
): RowState {
  const fields: Record<string, FieldState> = {};
  if (values) {
    for (const [field, value] of Object.entries(values)) {
      const hlc = newer(updated.get(field) ?? null, rowClock.insertedHlc);
      if (hlc !== null) fields[field] = { value, hlc };
    }
  }
  return { fields, insertedHlc: rowClock.insertedHlc, deletedHlc: rowClock.deletedHlc };
}

/** The fields whose own clock row a change raises: an update's or a delete's, never an insert's. */
export function fieldsClockedByChange(change: Pick<ChangeRecord, 'op' | 'fields'>): string[] {
  return change.op === 'insert' ? [] : Object.keys(change.fields);
}

/**
 * Stores a change's clocks (recorded here or pulled): the row's insert or delete clock, and the
 * field clocks of an update, each only ever raised.
 */
export function storeChangeClocks(db: WriteDb, change: ChangeRecord): void {
  const fieldClock = db.command(
    `INSERT INTO sync_field_clock (entity, row_id, field, hlc) VALUES (?, ?, ?, ?)
     ON CONFLICT (entity, row_id, field) DO UPDATE SET hlc = excluded.hlc WHERE excluded.hlc > sync_field_clock.hlc`,
  );
  for (const field of fieldsClockedByChange(change)) fieldClock.run([change.entity, change.rowId, field, change.hlc]);
  if (change.op === 'update') return;
  // The column name comes from the op, never from the change's data.
  const column = change.op === 'insert' ? 'inserted_hlc' : 'deleted_hlc';
  db.command(
    `INSERT INTO sync_row_clock (entity, row_id, ${column}) VALUES (?, ?, ?)
     ON CONFLICT (entity, row_id) DO UPDATE SET ${column} = excluded.${column}
       WHERE sync_row_clock.${column} IS NULL OR excluded.${column} > sync_row_clock.${column}`,
  ).run([change.entity, change.rowId, change.hlc]);
}

/** The newer of two encoded HLCs (string order is clock order), or null when neither is set. */
export function newer(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}
