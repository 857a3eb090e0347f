/**
 * Compaction in slices, for both storages: the rule of change-compaction.ts applied a group of rows
 * at a time, each group in its own short transaction, with the event loop free between slices. A
 * compaction done as one transaction held the clinic for its whole length: on the embedded storage
 * (synchronous SQLite on the thread that serves requests) about 10 s at 500,000 changes, during
 * which no request of any clinic was served; on PostgreSQL the change counter's lock, so every push
 * of the clinic waited as long.
 *
 * Why slices stay correct while the clinic goes on:
 * - The rule is per row (entity, row id): what leaves of one row depends on that row's changes
 *   only. A slice removes the chosen changes of whole rows, so every row is, at any moment, either
 *   as before or compacted; never half (a tombstoned row's insert gone but not its delete).
 * - The plan reads the log up to the head seen at the start (`head`): numbers are given under the
 *   counter, so every change up to it is committed and none will appear below it. A change
 *   appended later may change a row's plan (an insert above the horizon brings a tombstoned row
 *   back), so each slice first reads, in its own transaction, the rows written to since the last
 *   slice looked, and leaves those rows alone for this run.
 * - The horizon only rises while devices pull (cursors only advance, revocation is final), except
 *   when a device enrolls: it holds the horizon at 0 until it pulls. Each slice recomputes the
 *   horizon in its transaction and stops the run when it fell below the planned one, so a device
 *   enrolled meanwhile never pages through a log that changes under it beyond what a single
 *   compaction would have done before it enrolled.
 */
import {
  type CompactionCandidate,
  type CompactionRow,
  compactionCandidateFromRow,
  planCompaction,
} from '../change-compaction.js';
import type { CompactionResult } from '../records.js';

/** What a slice does. */
export type CompactionSlice = 'read' | 'remove' | 'count';

/** How big a slice is; the defaults keep one slice to a few milliseconds. */
export interface CompactionSliceOptions {
  /** Compactable changes read per planning query. */
  readonly readPage: number;
  /** Changes (of whole rows) examined per removal transaction. */
  readonly changesPerSlice: number;
  /**
   * Frees the event loop before each slice (by default one turn: setImmediate); told whether the
   * next slice reads the plan's input, removes changes or counts what is left.
   */
  readonly pause: (next: CompactionSlice) => Promise<void>;
}

/** The defaults of CompactionSliceOptions. */
export const DEFAULT_COMPACTION_SLICES: CompactionSliceOptions = {
  // About 5 ms of CPU a slice, measured at 100,000 and 500,000 changes on the 2-core bench machine
  // (twice that doubled the median slice; the longest slices, about 50 ms, stayed as they were).
  readPage: 1000,
  changesPerSlice: 500,
  pause: () => new Promise((resolve) => setImmediate(resolve)),
};

/** What one removal transaction sees of the clinic before it removes anything. */
export interface SliceState {
  /** The horizon now, from the devices and their cursors. */
  readonly horizon: number;
  /** Row keys (rowKey) of compactable changes numbered after the last slice's check, and the number checked up to. */
  readonly writtenRows: readonly string[];
  readonly checkedThrough: number;
}

/** A storage's side of a sliced compaction; each call is its own transaction. */
export interface CompactionSlicePort {
  /** The horizon and the head of the log, read together. */
  start(): Promise<{ horizon: number; head: number }>;
  /** Compactable changes numbered in (after, upTo], ascending, at most `limit`. */
  readCandidates(after: number, upTo: number, limit: number): Promise<CompactionRow[]>;
  /**
   * In one transaction that keeps appends of the clinic out until it commits: reads the state
   * after `checkedThrough`, asks `choose` for the numbers to remove (null: stop the run), moves
   * their idempotency records to compacted_changes and deletes them; returns how many it deleted
   * and the number it checked up to.
   */
  removeSlice(
    checkedThrough: number,
    choose: (state: SliceState) => readonly number[] | null,
  ): Promise<{ removed: number; checkedThrough: number } | null>;
  /** How many changes are numbered in (after, upTo]; upTo null: no upper bound. */
  countChanges(after: number, upTo: number | null): Promise<number>;
}

/** The key of a row: entity names are machine names without a newline, so it cannot collide. */
export function rowKey(entity: string, rowId: string): string {
  return `${entity}\n${rowId}`;
}

/** Groups of rows of about `changesPerSlice` changes, each row whole, keeping only rows with a change at or below the horizon. */
export function sliceRows(
  rows: ReadonlyMap<string, readonly CompactionCandidate[]>,
  horizon: number,
  changesPerSlice: number,
): string[][] {
  const slices: string[][] = [];
  let current: string[] = [];
  let weight = 0;
  for (const [key, changes] of rows) {
    if (!changes.some((change) => change.serverSeq <= horizon)) continue;
    current.push(key);
    weight += changes.length;
    if (weight >= changesPerSlice) {
      slices.push(current);
      current = [];
      weight = 0;
    }
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

/** Runs a compaction in slices over a storage's port (see the header for why it stays correct). */
export async function compactInSlices(
  port: CompactionSlicePort,
  options: CompactionSliceOptions,
): Promise<CompactionResult> {
  const { horizon, head } = await port.start();
  if (horizon === 0) return { horizon, removed: 0, kept: await countInSlices(port, head, options) };

  // The plan's input: every compactable change up to the head, by row, read a page at a time.
  const rows = new Map<string, CompactionCandidate[]>();
  for (let after = 0; after < head;) {
    await options.pause('read');
    const page = await port.readCandidates(after, head, options.readPage);
    for (const row of page) {
      const candidate = compactionCandidateFromRow(row);
      const key = rowKey(candidate.entity, candidate.rowId);
      const changes = rows.get(key);
      if (changes) changes.push(candidate);
      else rows.set(key, [candidate]);
    }
    after = page.length < options.readPage ? head : page.at(-1)!.server_seq;
  }

  const written = new Set<string>();
  let checkedThrough = head;
  let removed = 0;
  for (const slice of sliceRows(rows, horizon, options.changesPerSlice)) {
    await options.pause('remove');
    const outcome = await port.removeSlice(checkedThrough, (state) => {
      if (state.horizon < horizon) return null;
      for (const key of state.writtenRows) written.add(key);
      const candidates = slice.filter((key) => !written.has(key)).flatMap((key) => rows.get(key)!);
      return planCompaction(candidates, horizon);
    });
    if (!outcome) break;
    removed += outcome.removed;
    checkedThrough = outcome.checkedThrough;
  }
  return { horizon, removed, kept: await countInSlices(port, checkedThrough, options) };
}

/**
 * The number of changes the log holds, counted a range of numbers at a time up to `head` (a
 * count of the whole table at once took a third of a second at 300,000 changes), then the few
 * numbered since. Only compaction removes changes, so the ranges add up.
 */
async function countInSlices(port: CompactionSlicePort, head: number, options: CompactionSliceOptions) {
  const span = options.readPage * 25;
  let kept = 0;
  for (let after = 0; after < head; after += span) {
    await options.pause('count');
    kept += await port.countChanges(after, Math.min(after + span, head));
  }
  return kept + (await port.countChanges(head, null));
}
