/**
 * The audit log of one clinic: the devices' hash-chained audit entries, the Merkle log of their
 * leaves with its signed checkpoints, and the server's own security events. Implemented by
 * audit-log-sqlite.ts and audit-log-postgres.ts.
 */
import type {
  AppendAuditResult,
  AuditBatch,
  AuditChainHead,
  AuditEntryPage,
  CheckpointInput,
  CheckpointRecord,
  PageQuery,
  SecurityEvent,
  SecurityEventInput,
  SecurityEventPage,
} from '../records.js';

/** A clinic's audit log; part of ClinicStore (storage.ts). */
export interface AuditLogStore {
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
}
