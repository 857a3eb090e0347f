/**
 * The sync server's storage, behind one interface with two implementations: embedded SQLite
 * (one SQLCipher file per clinic, for a LAN relay or a small deployment; sqlite/) and PostgreSQL
 * with row-level security (shared by several stateless server instances; postgres/). Both pass
 * the same conformance and cross-tenant attack suites (storage.conformance.ts).
 *
 * Tenant isolation by construction: everything a clinic owns is reached through a ClinicStore,
 * a handle bound to exactly one clinic when it is obtained. No ClinicStore method takes a clinic
 * id, so a request authenticated to clinic A cannot name clinic B's rows, whatever its body says.
 * Only the few operations that come before a clinic is known (create or list clinics, redeem an
 * enrollment code) live on SyncStorage itself.
 *
 * Every method is async (PostgreSQL is) and validates its input with the zod schemas in
 * records.ts before it writes; refusals are the typed errors of errors.ts.
 */
import type {
  AppendAuditResult,
  AppendChangesResult,
  AuditBatch,
  AuditChainHead,
  AuditEntryPage,
  ChangeBatch,
  ChangePage,
  CheckpointInput,
  CheckpointRecord,
  Clinic,
  CreateClinicInput,
  CreateEnrollmentCodeInput,
  CreatedEnrollmentCode,
  Device,
  EnrolledDevice,
  EnrollmentCodeRecord,
  PageQuery,
  RedeemEnrollmentCodeInput,
  RevokeDeviceInput,
  SecurityEvent,
  SecurityEventInput,
  SecurityEventPage,
  DirectoryLookup,
  DirectoryUpdate,
  PatientBranch,
  QuarantineBatch,
  QuarantinePage,
  QuarantineQuery,
  QuarantineResult,
  QuarantinedChange,
  CompactionResult,
  PulledCursor,
} from './records.js';

/** The server's storage: clinics, and a ClinicStore per clinic. */
export interface SyncStorage {
  /** Creates a clinic with a new id (and, for SQLite, its database file). */
  createClinic(input: CreateClinicInput): Promise<Clinic>;
  /** Every clinic, oldest first (operator use; never exposed to a clinic's devices). */
  listClinics(): Promise<Clinic[]>;
  /** The clinic, or null when there is none with this id (a malformed id is also null). */
  getClinic(clinicId: string): Promise<Clinic | null>;
  /** The handle bound to one clinic; throws UnknownClinicError for an unknown or malformed id. */
  clinic(clinicId: string): Promise<ClinicStore>;
  /**
   * Redeems a one-time enrollment code and registers the device it enrolls, atomically: the code
   * is used up only if the device is registered, and a code works once, never after it expires.
   * Throws EnrollmentCodeError (unknown, expired, redeemed) or DuplicateDeviceError.
   */
  redeemEnrollmentCode(input: RedeemEnrollmentCodeInput): Promise<EnrolledDevice>;
  /**
   * Marks an answered challenge's nonce used, for every process sharing this storage: true the
   * first time, false when it was used before or `expiresAt` has passed (a challenge answered
   * late is never accepted). Nonces past their expiry are purged, since their challenges are
   * refused by their expiry anyway.
   */
  consumeChallengeNonce(nonce: string, expiresAt: number): Promise<boolean>;
  /** Releases connections and file handles; the storage is unusable afterwards. */
  close(): Promise<void>;
}

/** Everything one clinic owns. Bound to that clinic; no method takes a clinic id. */
export interface ClinicStore {
  /** The clinic this handle is bound to. */
  readonly clinicId: string;

  /** The clinic's own record. */
  getClinic(): Promise<Clinic>;

  /** Makes a one-time code valid for `ttlMs`; only its SHA-256 is stored. */
  createEnrollmentCode(input: CreateEnrollmentCodeInput): Promise<CreatedEnrollmentCode>;
  /** The clinic's enrollment codes (without the codes), oldest first. */
  listEnrollmentCodes(): Promise<EnrollmentCodeRecord[]>;

  /** The device, or null when this clinic has no device with this id. */
  getDevice(deviceId: string): Promise<Device | null>;
  /** The clinic's devices, in enrollment order. */
  listDevices(): Promise<Device[]>;
  /** Revokes a device for good (revoking again keeps the first revocation); UnknownDeviceError otherwise. */
  revokeDevice(input: RevokeDeviceInput): Promise<Device>;
  /** True when the device is revoked, or unknown to this clinic (fail closed). */
  isDeviceRevoked(deviceId: string): Promise<boolean>;

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
   * live channel pays for it). Throws what those two throw.
   */
  pullChangesForDevice(deviceId: string, query: PageQuery): Promise<ChangePage>;
  /** Every recorded pulled cursor, by device id (a device that never pulled has none). */
  listPulledCursors(): Promise<PulledCursor[]>;
  /**
   * Compacts the change log below the horizon every non-revoked device has pulled past
   * (change-compaction.ts): superseded updates and tombstoned rows' changes of mutable entities
   * leave the log, their idempotency records (seq, id, device, content hash) staying in
   * `compacted_changes`, so a re-push is still answered with its number; all in one transaction.
   */
  compactChanges(): Promise<CompactionResult>;

  /** The newest accepted entry of a device chain in an epoch, or null before its first. */
  auditChainHead(deviceId: string, epoch: number): Promise<AuditChainHead | null>;
  /**
   * Appends consecutive, hash-verified entries of one device chain (the caller checks each hash
   * with shared/audit-chain.ts; the storage checks sequence and linkage against the stored head,
   * the genesis hash for a first entry, and body consistency). Each new entry becomes the next
   * leaf of the clinic's Merkle log. Entries the server already holds identically are skipped.
   * Throws AuditChainRejectedError (gap, fork, rollback), having stored nothing.
   */
  appendAuditEntries(batch: AuditBatch): Promise<AppendAuditResult>;
  /** Accepted audit entries in Merkle leaf order: those with leaf index >= `after`. */
  listAuditEntries(query: PageQuery): Promise<AuditEntryPage>;

  /** The number of leaves in the clinic's Merkle log. */
  auditLogSize(): Promise<number>;
  /** Leaf hashes of leaves [start, end), in order (for roots and proofs). */
  auditLeafHashes(start: number, end: number): Promise<Uint8Array[]>;
  /**
   * Stores a signed checkpoint. Sizes only grow; storing the same size and root again returns
   * the stored checkpoint. Throws CheckpointRejectedError.
   */
  storeCheckpoint(input: CheckpointInput): Promise<CheckpointRecord>;
  /** The checkpoint of the largest size, or null before the first. */
  latestCheckpoint(): Promise<CheckpointRecord | null>;
  /** The checkpoint of exactly this size, or null. */
  getCheckpoint(size: number): Promise<CheckpointRecord | null>;

  /** Records a security event, numbered by the clinic's counter. */
  appendSecurityEvent(input: SecurityEventInput): Promise<SecurityEvent>;
  /** Security events numbered after `after`, oldest first. */
  listSecurityEvents(query: PageQuery): Promise<SecurityEventPage>;

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

  /** The directory entries of these users, and the number of users the directory holds. */
  readUserDirectory(userIds: readonly string[]): Promise<DirectoryLookup>;
  /**
   * Sets users' roles and branch scope (all branches, branch ids); each value replaces the stored
   * one only when its HLC is higher (last writer wins). An entry without a role only updates a
   * user the directory has.
   */
  updateUserDirectory(entries: DirectoryUpdate): Promise<void>;
  /**
   * The branch of each of these patients that the change log knows (the accepted patient change
   * with the highest HLC that set `branch_id`), by patient id; patients without one are absent.
   */
  readPatientBranches(patientIds: readonly string[]): Promise<PatientBranch[]>;
}

/** The operations of a ClinicStore (every member but the clinic id). */
export type ClinicStoreOperation = Exclude<keyof ClinicStore, 'clinicId'>;

/**
 * Every ClinicStore operation. `satisfies` makes an operation added to the interface but not
 * here a compile error, and the cross-tenant suite attacks each operation listed here.
 */
export const CLINIC_STORE_OPERATIONS = Object.keys({
  getClinic: true,
  createEnrollmentCode: true,
  listEnrollmentCodes: true,
  getDevice: true,
  listDevices: true,
  revokeDevice: true,
  isDeviceRevoked: true,
  appendChanges: true,
  pullChanges: true,
  latestChangeSeq: true,
  recordPulledCursor: true,
  pullChangesForDevice: true,
  listPulledCursors: true,
  compactChanges: true,
  auditChainHead: true,
  appendAuditEntries: true,
  listAuditEntries: true,
  auditLogSize: true,
  auditLeafHashes: true,
  storeCheckpoint: true,
  latestCheckpoint: true,
  getCheckpoint: true,
  appendSecurityEvent: true,
  listSecurityEvents: true,
  quarantineChanges: true,
  findQuarantinedChanges: true,
  listQuarantinedChanges: true,
  readUserDirectory: true,
  updateUserDirectory: true,
  readPatientBranches: true,
} satisfies Record<ClinicStoreOperation, true>) as ClinicStoreOperation[];

export * from './errors.js';
export * from './records.js';
