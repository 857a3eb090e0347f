/**
 * The sync server's storage, behind one interface with two implementations: embedded SQLite
 * (one SQLCipher file per clinic, for a LAN relay or a small deployment; sqlite/) and PostgreSQL
 * with row-level security (shared by several stateless server instances; postgres/). Both pass
 * the same conformance and cross-tenant attack suites (test/support/sync-server/storage.conformance.ts).
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
import type { AuditLogStore } from './audit/audit-log-store.js';
import type { ChangeLogStore } from './changes/change-log-store.js';
import type { CompactionStore } from './compaction/compaction-store.js';
import type { DeviceStore } from './devices/device-store.js';
import type { UserDirectoryStore } from './directory/user-directory-store.js';
import type { QuarantineStore } from './quarantine/quarantine-store.js';
import type { Clinic, CreateClinicInput, EnrolledDevice, RedeemEnrollmentCodeInput } from './records.js';

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

/**
 * Everything one clinic owns, by area: each area's interface and its two implementations sit
 * side by side in their folder (changes/, compaction/, audit/, devices/, quarantine/,
 * directory/). Bound to one clinic; no method takes a clinic id.
 */
export interface ClinicStore
  extends DeviceStore, ChangeLogStore, CompactionStore, AuditLogStore, QuarantineStore, UserDirectoryStore {
  /** The clinic this handle is bound to. */
  readonly clinicId: string;
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

export type { AuditLogStore } from './audit/audit-log-store.js';
export type { ChangeLogStore, DevicePage } from './changes/change-log-store.js';
export type { CompactionStore } from './compaction/compaction-store.js';
export type { DeviceStore } from './devices/device-store.js';
export type { UserDirectoryStore } from './directory/user-directory-store.js';
export type { QuarantineStore } from './quarantine/quarantine-store.js';
export * from './errors.js';
export * from './records.js';
