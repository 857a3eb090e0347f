/**
 * The change log of one clinic: appending pushed changes, paging them out to pulling devices,
 * the devices' pulled cursors (compaction's horizon), and the one read re-validation makes of the
 * log itself (patients' branches). Implemented by change-log-sqlite.ts and change-log-postgres.ts.
 */
import type {
  AppendChangesResult,
  ChangeBatch,
  ChangePage,
  PageQuery,
  PatientBranch,
  PulledCursor,
} from '../records.js';

/** A device's page, with the cursor it had recorded before asking for it. */
export interface DevicePage extends ChangePage {
  readonly pulledBefore: number | null;
}

/** A clinic's change log; part of ClinicStore (storage.ts). */
export interface ChangeLogStore {
  /**
   * Appends the changes of one local transaction, atomically, numbering new ones with the
   * clinic's counter inside the same transaction. Idempotent by change id: a re-push returns the
   * numbers already given and inserts nothing, also for a change compaction removed since.
   * Throws InvalidInputError, UnknownDeviceError, DeviceRevokedError or ChangeConflictError,
   * having stored nothing.
   */
  appendChanges(batch: ChangeBatch): Promise<AppendChangesResult>;
  /** Changes numbered after `after`, in server order, at most `limit`, with `hasMore`. */
  pullChanges(query: PageQuery): Promise<ChangePage>;
  /** The highest server sequence number given so far (0 before the first change); the live channel's resync point. */
  latestChangeSeq(): Promise<number>;
  /**
   * Records that a device pulled with `after`: it has applied every change up to it (a device
   * asks for a page only after committing the previous one). Only raises the device's cursor,
   * and never above latestChangeSeq (a cursor past the log would claim changes not yet made).
   * Throws InvalidInputError or UnknownDeviceError.
   */
  recordPulledCursor(deviceId: string, after: number): Promise<void>;
  /**
   * A device's pull: records its cursor as recordPulledCursor does and reads the page after it as
   * pullChanges does, in one transaction where the storage can (the pull route; every pull of the
   * live channel pays for it). Throws what those two throw. Also answers the cursor the device had
   * recorded before this pull (null: it never pulled), which tells a device that went back
   * behind it (sync-server/snapshot/behind-horizon.ts) without another read.
   */
  pullChangesForDevice(deviceId: string, query: PageQuery): Promise<DevicePage>;
  /** Every recorded pulled cursor, by device id (a device that never pulled has none). */
  listPulledCursors(): Promise<PulledCursor[]>;
  /**
   * The branch of each of these patients that the change log knows (the accepted patient change
   * with the highest HLC that set `branch_id`), by patient id; patients without one are absent.
   */
  readPatientBranches(patientIds: readonly string[]): Promise<PatientBranch[]>;
}
