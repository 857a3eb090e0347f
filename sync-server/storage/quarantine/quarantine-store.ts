/**
 * Quarantined changes of one clinic: pushed changes the server refused on re-validation, kept
 * with their reasons so a re-push gets the same answer and an administrator can review them.
 * Implemented by quarantine-sqlite.ts and quarantine-postgres.ts.
 */
import type {
  QuarantineBatch,
  QuarantinePage,
  QuarantineQuery,
  QuarantineResult,
  QuarantinedChange,
} from '../records.js';

/** A clinic's quarantine; part of ClinicStore (storage.ts). */
export interface QuarantineStore {
  /**
   * Quarantines the changes of one local transaction (never appended to the change log), in one
   * transaction. Idempotent by change id: changes already quarantined with the same content keep
   * their stored reason. Returns `alreadyAccepted`, storing nothing, when a change of the batch
   * is already in the change log. Throws InvalidInputError, UnknownDeviceError,
   * DeviceRevokedError or ChangeConflictError (an id reused with other content).
   */
  quarantineChanges(batch: QuarantineBatch): Promise<QuarantineResult>;
  /** The quarantined changes among these ids, in quarantine order. */
  findQuarantinedChanges(changeIds: readonly string[]): Promise<QuarantinedChange[]>;
  /** One device's quarantined changes after `after`, oldest first. */
  listQuarantinedChanges(query: QuarantineQuery): Promise<QuarantinePage>;
}
