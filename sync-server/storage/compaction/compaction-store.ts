/**
 * Compaction of one clinic's change log (change-compaction.ts decides what goes; docs/sync-protocol.md,
 * "Compaction"). Implemented by compaction-sqlite.ts and compaction-postgres.ts.
 */
import type { CompactionResult } from '../records.js';

/** A clinic's change-log compaction; part of ClinicStore (storage.ts). */
export interface CompactionStore {
  /**
   * Compacts the change log below the horizon every non-revoked device has pulled past
   * (change-compaction.ts): superseded updates and tombstoned rows' changes of mutable entities
   * leave the log, their idempotency records (seq, id, device, content hash) staying in
   * `compacted_changes`, so a re-push is still answered with its number. Works in slices (a
   * bounded group of rows per transaction, other requests served between them): each row's
   * changes leave together or not at all, a row written to since the plan was read is left for
   * the next run, and a horizon that falls meanwhile (a device enrolled) stops the run.
   */
  compactChanges(): Promise<CompactionResult>;
}
