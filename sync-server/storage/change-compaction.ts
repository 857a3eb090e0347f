/**
 * The storage-independent half of compacting a clinic's change log (docs/sync-protocol.md,
 * "Compaction"): the horizon every non-revoked device has pulled past, and which changes
 * at or below it no device will ever need again. The rule is per row, so it is applied a few rows
 * at a time (compaction/compaction-slices.ts): each slice moves the chosen changes' idempotency
 * records to `compacted_changes` and deletes them from `changes` in one transaction.
 *
 * What stays is chosen so that a device replaying only the remaining log (a device that joins
 * later) reaches the same visible rows as the devices that applied everything, under the merge
 * of shared/sync/merge.ts:
 * - an `update` is removed only when each field it sets is also set by another change of the same
 *   row with a higher HLC, so last-writer-wins picks that other value on every replica;
 * - a tombstoned row (its highest delete at or below the horizon outranks every insert of the
 *   row, and no insert of it lies above the horizon) loses every change at or below the horizon,
 *   the tombstone included: without an insert the row is not live on a new device, as it is
 *   deleted on the others;
 * - inserts of live rows, deletes of rows brought back by an undelete, and every change of an
 *   append-only or unknown entity stay.
 */
import { REPLICATED_ENTITIES } from '../../shared/sync/change.js';

/** The entities whose changes may be compacted: those merged field by field (never append-only ones). */
export const COMPACTABLE_ENTITIES: readonly string[] = Object.entries(REPLICATED_ENTITIES)
  .filter(([, definition]) => definition.kind === 'mutable')
  .map(([name]) => name);

/** A device as the horizon sees it: revoked or not, and the highest `after` it pulled with (null: never pulled). */
export interface HorizonDevice {
  readonly revoked: boolean;
  readonly pulledAfter: number | null;
}

/**
 * The compaction horizon: the lowest pulled cursor over the non-revoked devices. A device that
 * never pulled counts as 0 and holds everything back; revoked devices never pull again and hold
 * nothing. With no active device the horizon is 0: nothing is known to be applied anywhere.
 */
export function compactionHorizon(devices: readonly HorizonDevice[]): number {
  const active = devices.filter((device) => !device.revoked);
  if (active.length === 0) return 0;
  return Math.min(...active.map((device) => device.pulledAfter ?? 0));
}

/** What the planner needs of one stored change of a compactable entity. */
export interface CompactionCandidate {
  readonly serverSeq: number;
  readonly entity: string;
  readonly rowId: string;
  readonly op: 'insert' | 'update' | 'delete';
  /** Encoded HLC: string order is clock order. */
  readonly hlc: string;
  /** The names of the fields the change sets. */
  readonly fields: readonly string[];
}

/**
 * The server sequence numbers to remove, ascending. `changes` must hold every stored change of
 * the rows concerned (above the horizon too: a change above it may supersede one below it).
 */
export function planCompaction(changes: readonly CompactionCandidate[], horizon: number): number[] {
  const rows = new Map<string, CompactionCandidate[]>();
  for (const change of changes) {
    // The row key cannot collide: entity names are machine names without a newline.
    const key = `${change.entity}\n${change.rowId}`;
    const row = rows.get(key);
    if (row) row.push(change);
    else rows.set(key, [change]);
  }
  const removed: number[] = [];
  for (const row of rows.values()) {
    if (!COMPACTABLE_ENTITIES.includes(row[0]!.entity)) continue;
    const below = row.filter((change) => change.serverSeq <= horizon);
    if (below.length === 0) continue;
    if (isTombstonedBelow(row, below, horizon)) {
      removed.push(...below.map((change) => change.serverSeq));
      continue;
    }
    const newestByField = new Map<string, string>();
    for (const change of row) {
      for (const field of change.fields) {
        const newest = newestByField.get(field);
        if (newest === undefined || change.hlc > newest) newestByField.set(field, change.hlc);
      }
    }
    for (const change of below) {
      if (change.op !== 'update') continue;
      // Strictly higher: the newest write of a field is never superseded, so one change always keeps it.
      if (change.fields.every((field) => newestByField.get(field)! > change.hlc)) removed.push(change.serverSeq);
    }
  }
  return removed.sort((a, b) => a - b);
}

function isTombstonedBelow(
  row: readonly CompactionCandidate[],
  below: readonly CompactionCandidate[],
  horizon: number,
): boolean {
  let newestDelete: string | null = null;
  for (const change of below) {
    if (change.op === 'delete' && (newestDelete === null || change.hlc > newestDelete)) newestDelete = change.hlc;
  }
  if (newestDelete === null) return false;
  for (const change of row) {
    if (change.op !== 'insert') continue;
    // An insert above the horizon would make the row live on a new device whatever its clock.
    if (change.serverSeq > horizon || change.hlc >= newestDelete) return false;
  }
  return true;
}

/** The columns compaction reads of a stored change. */
export const COMPACTION_COLUMNS = 'server_seq, entity, row_id, op, hlc, fields';

/** A row of COMPACTION_COLUMNS, as both storages return it. */
export interface CompactionRow {
  readonly server_seq: number;
  readonly entity: string;
  readonly row_id: string;
  readonly op: string;
  readonly hlc: string;
  /** Canonical JSON text of the fields. */
  readonly fields: string;
}

/** The candidate of a stored row; a damaged op fails loudly rather than being guessed. */
export function compactionCandidateFromRow(row: CompactionRow): CompactionCandidate {
  const { op } = row;
  if (op !== 'insert' && op !== 'update' && op !== 'delete')
    throw new Error(`stored change ${row.server_seq} has no valid op`);
  return {
    serverSeq: row.server_seq,
    entity: row.entity,
    rowId: row.row_id,
    op,
    hlc: row.hlc,
    fields: Object.keys(JSON.parse(row.fields) as Record<string, unknown>),
  };
}
