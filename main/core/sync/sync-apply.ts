/**
 * Applies changes pulled from the server to the local tables (docs/sync-protocol.md, "Device
 * sync engine"). Each change is merged with shared/sync/merge.ts against the stored
 * field and row clocks (migration 0050; a field with no clock of its own carries the row's insert
 * clock, field-clocks.ts). planRemoteChange is the pure half, which a join also carries out in
 * memory (join-apply.ts). Winning values are written into the entity's table (as its declaration,
 * shared/sync/entities/, lays it out), losing values of concurrent edits go to `sync_conflicts`,
 * and the entity's domain does what else a written row needs through its replication hooks
 * (replication-hooks.ts: the patient search index and review pairs, users' branch assignments).
 * Nothing here writes to the outbox: a remote change is not this device's change.
 *
 * Runs inside the caller's transaction (one per pulled page, together with the cursor).
 */
import { canonicalJson } from '../../../shared/canonical-json.js';
import type { ChangeRecord, EntityName } from '../../../shared/sync/change.js';
import { declarationOf } from '../../../shared/sync/entities.js';
import {
  ClockDriftError,
  type Hlc,
  encodeHlc,
  initialHlc,
  parseHlc,
  receive,
  validatedHlcWallMs,
} from '../../../shared/sync/hlc.js';
import { type ConflictEntry, type RowState, isRowLive, mergeChange } from '../../../shared/sync/merge.js';
import type { WriteDb } from '../db/access.js';
import { isComputedField, readReplicatedFields } from './change-recorder.js';
import { readRowState, storeChangeClocks } from './field-clocks.js';
import type { ReplicationHooks } from './replication-hooks.js';

/** What applying one change did. */
export interface ApplyOutcome {
  /** False when the entity is not applied yet on devices (append-only kinds), the merge rejected it, or a new user's username is taken. */
  readonly applied: boolean;
  /** New entries in the conflict log. */
  readonly conflicts: number;
}

/** A write into an entity's table: a new row (every column) or the columns an update changes. */
export type TableWrite =
  | { readonly kind: 'insert'; readonly row: Readonly<Record<string, unknown>> }
  | { readonly kind: 'update'; readonly row: Readonly<Record<string, unknown>> };

/** What merging one change into the row a device holds comes to; the same on every apply path. */
export interface ApplyPlan {
  /** The row's merged state (fields with clocks, insert and delete clocks). */
  readonly state: RowState;
  /** Losing values of concurrent edits, for `sync_conflicts`. */
  readonly conflicts: readonly ConflictEntry[];
  /**
   * The table write, or null: the row is deleted (tombstoned rows stay in the table; clinical
   * data is soft-deleted), a new row still lacks fields, or the change won no field (a change
   * delivered again writes nothing).
   */
  readonly write: TableWrite | null;
}

/** Which declared fields a new row needs, and which are table columns (not computed). */
interface RowLayout {
  readonly required: readonly string[];
  readonly columns: readonly string[];
}

// Read from the constant declarations once per entity: planRemoteChange runs for every pulled change.
const layouts = new Map<EntityName, RowLayout>();

function layoutOf(entity: EntityName): RowLayout {
  let layout = layouts.get(entity);
  if (!layout) {
    const fields = Object.entries(declarationOf(entity).fields);
    layout = {
      required: fields.filter(([, declared]) => declared.addedLater !== true).map(([field]) => field),
      columns: fields.filter(([field]) => !isComputedField(entity, field)).map(([field]) => field),
    };
    layouts.set(entity, layout);
  }
  return layout;
}

/**
 * Merges a change into the row the device holds (`values` as stored, `current` its clocks) and
 * says what to write. Pure: the SQL path (applyRemoteChange) and the in-memory path of a join
 * (join-apply.ts) both carry out this plan. Null when the entity is not applied on devices or
 * the merge rejected the change.
 */
export function planRemoteChange(
  change: ChangeRecord,
  values: Readonly<Record<string, unknown>> | undefined,
  current: RowState,
): ApplyPlan | null {
  const target = declarationOf(change.entity);
  if (!target.appliedOnDevices) return null;
  // A row this device holds from before it connected has values but no clocks: the merge then
  // sees no state for those fields and the remote value wins, which is what a first sync wants.
  const result = mergeChange(current, change);
  if (result.rejected) return null;
  const unwritten: ApplyPlan = { state: result.state, conflicts: result.conflicts, write: null };
  if (!isRowLive(result.state)) return unwritten;
  const state = result.state.fields;
  const wallMs = validatedHlcWallMs(change.hlc);
  const stamp =
    target.localStamp === 'both'
      ? { updated_at: wallMs, updated_by: change.userId }
      : target.localStamp === 'at'
        ? { updated_at: wallMs }
        : {};
  if (values === undefined) {
    // A new row needs every declared field; an insert carries them all, except fields added to
    // the entity later (an insert recorded by an older version lacks them), which start as null.
    const { required, columns } = layoutOf(change.entity);
    if (!required.every((field) => state[field] !== undefined)) return unwritten;
    const row: Record<string, unknown> = { [target.key]: change.rowId, ...stamp };
    for (const field of columns) row[field] = state[field]?.value ?? null;
    return { ...unwritten, write: { kind: 'insert', row } };
  }
  // Fields this change set just now; a change delivered again (same HLC already stored) writes nothing.
  const winners = Object.keys(change.fields).filter(
    (field) => state[field]?.hlc === change.hlc && current.fields[field]?.hlc !== change.hlc,
  );
  if (winners.length === 0) return unwritten;
  const row: Record<string, unknown> = { ...stamp };
  for (const field of winners) if (!isComputedField(change.entity, field)) row[field] = state[field]!.value;
  return { ...unwritten, write: { kind: 'update', row } };
}

/**
 * Merges one remote change into the local state and tables, and runs its entity's hooks. Must run
 * inside a transaction.
 */
export function applyRemoteChange(
  db: WriteDb,
  change: ChangeRecord,
  now: number,
  hooks: ReplicationHooks,
): ApplyOutcome {
  if (!db.inTransaction) throw new Error('remote changes are applied inside a transaction');
  const target = declarationOf(change.entity);
  if (!target.appliedOnDevices) return { applied: false, conflicts: 0 };
  const entityHooks = hooks[change.entity];

  const values = readReplicatedFields(db, change.entity, change.rowId, hooks);
  if (values === undefined && entityHooks.refusesNewRow?.(db, change)) return { applied: false, conflicts: 0 };
  const plan = planRemoteChange(change, values, readRowState(db, change.entity, change.rowId, values));
  if (!plan) return { applied: false, conflicts: 0 };
  storeChangeClocks(db, change);
  const conflicts = logConflicts(db, plan.conflicts, now);
  if (!plan.write) return { applied: true, conflicts };

  const table = target.table;
  const columns = Object.keys(plan.write.row);
  // Identifiers come from the constant entity declarations, never from the change.
  if (plan.write.kind === 'insert') {
    db.command(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((column) => `@${column}`).join(', ')})`,
    ).run(plan.write.row);
  } else {
    db.command(
      `UPDATE ${table} SET ${columns.map((column) => `${column} = @${column}`).join(', ')} WHERE ${target.key} = @key`,
    ).run({ ...plan.write.row, key: change.rowId });
  }
  entityHooks.afterWrite?.(db, change, plan.state.fields, now);
  return { applied: true, conflicts };
}

/** Keeps the losing values of concurrent edits (each once); returns how many were new. */
export function logConflicts(db: WriteDb, conflicts: readonly ConflictEntry[], now: number): number {
  if (conflicts.length === 0) return 0;
  const logConflict = db.command(
    `INSERT INTO sync_conflicts (entity, row_id, field, losing_hlc, losing_value, winning_hlc, winning_value,
       recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  let added = 0;
  for (const conflict of conflicts) {
    added += logConflict.run([
      conflict.entity,
      conflict.rowId,
      conflict.field,
      conflict.losing.hlc,
      canonicalJson(conflict.losing.value),
      conflict.winning.hlc,
      canonicalJson(conflict.winning.value),
      now,
    ]).changes;
  }
  return added;
}

/**
 * Advances the device clock past remote timestamps (the HLC receive rule), so a later local edit
 * outranks every change this device has seen. A remote clock too far ahead is not followed (it
 * would drag this device into the future); its change is still merged.
 */
export function receiveRemoteClocks(db: WriteDb, deviceId: string, remoteHlcs: readonly string[], now: number): void {
  if (remoteHlcs.length === 0) return;
  const stored = db.query<{ hlc: string }>('SELECT hlc FROM sync_clock').get();
  const last = stored ? parseHlc(stored.hlc) : initialHlc(deviceId);
  let local: Hlc = { wallMs: last.wallMs, counter: last.counter, deviceId };
  for (const text of remoteHlcs) {
    try {
      local = receive(local, parseHlc(text), now);
    } catch (error) {
      if (!(error instanceof ClockDriftError)) throw error;
    }
  }
  db.command(
    'INSERT INTO sync_clock (singleton, hlc) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET hlc = excluded.hlc',
  ).run([encodeHlc(local)]);
}
