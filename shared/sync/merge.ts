/**
 * The deterministic merge of one change into one row's state, run alike on devices and on the
 * server. A pure function: no clock, no database, no randomness.
 *
 * The state of a row is a join-semilattice (Shapiro et al., "Conflict-free Replicated Data
 * Types", 2011): every field is a last-writer-wins register ordered by HLC (`shared/sync/hlc.ts`,
 * ties broken by device id inside the clock order), and the row's existence is the pair of the
 * highest insert and the highest delete HLC. Merging takes the maximum of each part, so replicas
 * that receive the same changes in any order, any number of times, reach the same state.
 *
 * Rules (docs/sync-protocol.md, "Change capture and merge"):
 * - Mutable entities merge field by field. When a value from one device is displaced by, or
 *   loses to, a different value from another device, the losing value is returned as a conflict
 *   entry so it can be kept and reviewed. A value displaced by a later write of its own device is
 *   not a conflict: a device's clock is monotonic, so that write saw it.
 * - Deletes are tombstones: the row is deleted while its highest delete outranks its highest
 *   insert. Updates never resurrect a row, whatever their HLC (clinical data is soft-deleted and
 *   an edit made without seeing the delete must not silently bring the record back); their values
 *   are still merged into the hidden fields, so the state does not depend on arrival order. The
 *   one way back is an explicit undelete: an `insert` of the same row id with a higher HLC.
 * - Append-only entities are written once by an insert and never overwritten: an update, a
 *   delete or a second, different insert of the same row is rejected with a reason.
 */
import { type ChangeRecord, type FieldValue, REPLICATED_ENTITIES } from './change.js';

/** One field's value and the HLC (encoded) of the write that set it. */
export interface FieldState {
  readonly value: FieldValue;
  readonly hlc: string;
}

/** What a replica knows about one row. */
export interface RowState {
  readonly fields: Readonly<Record<string, FieldState>>;
  /** Highest HLC of an insert (creation or explicit undelete); null until one arrived. */
  readonly insertedHlc: string | null;
  /** Highest HLC of a delete (the tombstone); null when never deleted. */
  readonly deletedHlc: string | null;
}

/** A value that lost a concurrent edit, kept rather than thrown away. */
export interface ConflictEntry {
  readonly entity: ChangeRecord['entity'];
  readonly rowId: string;
  readonly field: string;
  /** The value that is no longer current, with the HLC (and so the device) that wrote it. */
  readonly losing: FieldState;
  /** The value it lost to. */
  readonly winning: FieldState;
}

/** Why a change was not applied. */
export type RejectionReason = 'append-only-update' | 'append-only-delete' | 'append-only-exists';

/** The outcome of merging one change. */
export interface MergeResult {
  readonly state: RowState;
  /** Losing values of concurrent edits; a log keyed by (entity, rowId, field, losing.hlc) stores them once. */
  readonly conflicts: readonly ConflictEntry[];
  /** Set when the change was refused; the state is then the current one, unchanged. */
  readonly rejected: RejectionReason | null;
}

/** The state of a row no change has reached yet. */
export const EMPTY_ROW_STATE: RowState = Object.freeze({
  fields: Object.freeze({}),
  insertedHlc: null,
  deletedHlc: null,
});

/** True when the row exists: inserted, and not deleted by a delete that outranks its last insert. */
export function isRowLive(state: RowState): boolean {
  return state.insertedHlc !== null && !isRowDeleted(state);
}

/** True when the row's tombstone outranks its last insert. */
export function isRowDeleted(state: RowState): boolean {
  return state.deletedHlc !== null && (state.insertedHlc === null || state.deletedHlc > state.insertedHlc);
}

/**
 * Merges one change into a row's state. `change` must already be valid (`changeRecordSchema`).
 * Encoded HLCs are compared as strings: their fixed-width encoding makes string order the clock
 * order (`encodeHlc`).
 */
export function mergeChange(current: RowState, change: ChangeRecord): MergeResult {
  if (REPLICATED_ENTITIES[change.entity].kind === 'appendOnly') return mergeAppendOnly(current, change);

  const fields: Record<string, FieldState> = { ...current.fields };
  const conflicts: ConflictEntry[] = [];
  for (const [field, value] of Object.entries(change.fields)) {
    const incoming: FieldState = { value, hlc: change.hlc };
    const existing = fields[field];
    if (!existing) {
      fields[field] = incoming;
      continue;
    }
    // Equal HLCs mean the same write (one change per tick): a duplicate, nothing to do.
    if (existing.hlc === change.hlc) continue;
    const [winning, losing] = change.hlc > existing.hlc ? [incoming, existing] : [existing, incoming];
    fields[field] = winning;
    if (deviceOf(losing.hlc) !== deviceOf(winning.hlc) && losing.value !== winning.value) {
      conflicts.push({ entity: change.entity, rowId: change.rowId, field, losing, winning });
    }
  }
  return {
    state: {
      fields,
      insertedHlc: change.op === 'insert' ? maxHlc(current.insertedHlc, change.hlc) : current.insertedHlc,
      deletedHlc: change.op === 'delete' ? maxHlc(current.deletedHlc, change.hlc) : current.deletedHlc,
    },
    conflicts,
    rejected: null,
  };
}

function mergeAppendOnly(current: RowState, change: ChangeRecord): MergeResult {
  const refuse = (reason: RejectionReason): MergeResult => ({ state: current, conflicts: [], rejected: reason });
  if (change.op === 'update') return refuse('append-only-update');
  if (change.op === 'delete') return refuse('append-only-delete');
  if (current.insertedHlc !== null) {
    // The same insert again is a duplicate delivery; any other insert would overwrite a record.
    return current.insertedHlc === change.hlc
      ? { state: current, conflicts: [], rejected: null }
      : refuse('append-only-exists');
  }
  const fields: Record<string, FieldState> = {};
  for (const [field, value] of Object.entries(change.fields)) fields[field] = { value, hlc: change.hlc };
  return { state: { fields, insertedHlc: change.hlc, deletedHlc: null }, conflicts: [], rejected: null };
}

function maxHlc(a: string | null, b: string): string {
  return a === null || b > a ? b : a;
}

/** The device id inside an encoded HLC (`<wall>-<counter>-<device>`). */
function deviceOf(encodedHlc: string): string {
  return encodedHlc.slice(18);
}
