/**
 * Typed failures of the sync server's storage. Every implementation throws these and nothing
 * else for a refused operation, so the HTTP layer maps them to one error envelope without
 * knowing which storage is behind it. Messages carry ids and counts, never patient data.
 */

/** Base class of every refusal the storage reports on purpose. */
export abstract class SyncStorageError extends Error {
  /** A stable machine-readable code for the error envelope. */
  abstract readonly code: string;
}

/** The clinic id names no clinic this storage holds. */
export class UnknownClinicError extends SyncStorageError {
  override readonly name = 'UnknownClinicError';
  readonly code = 'unknown_clinic';
}

/** An input failed its schema; nothing was stored. */
export class InvalidInputError extends SyncStorageError {
  override readonly name = 'InvalidInputError';
  readonly code = 'invalid_input';
}

/** Why an enrollment code was refused. */
export type EnrollmentCodeRefusal = 'unknown' | 'expired' | 'redeemed';

/**
 * An enrollment code could not be redeemed. The reason is for the security log; the HTTP layer
 * should answer one undistinguished error so the endpoint is not an oracle for valid codes.
 */
export class EnrollmentCodeError extends SyncStorageError {
  override readonly name = 'EnrollmentCodeError';
  readonly code = 'enrollment_code_refused';

  constructor(readonly reason: EnrollmentCodeRefusal) {
    super(`enrollment code refused: ${reason}`);
  }
}

/** A device id is already enrolled in this clinic (a cloned database must get a new id). */
export class DuplicateDeviceError extends SyncStorageError {
  override readonly name = 'DuplicateDeviceError';
  readonly code = 'duplicate_device';
}

/** The device id names no device of this clinic. */
export class UnknownDeviceError extends SyncStorageError {
  override readonly name = 'UnknownDeviceError';
  readonly code = 'unknown_device';
}

/** The device was revoked; it may no longer push. */
export class DeviceRevokedError extends SyncStorageError {
  override readonly name = 'DeviceRevokedError';
  readonly code = 'device_revoked';
}

/**
 * A change id already stored with different content. Change ids are UUIDv7/ULIDs made by the
 * device, so this is a bug or an attack, never a retry; the whole batch is refused.
 */
export class ChangeConflictError extends SyncStorageError {
  override readonly name = 'ChangeConflictError';
  readonly code = 'change_conflict';

  constructor(readonly changeId: string) {
    super(`change ${changeId} was already stored with different content`);
  }
}

/**
 * How a pushed audit chain disagrees with the stored one:
 * - `gap`: entries are missing between the stored head and the pushed ones (or inside the batch);
 * - `fork`: an entry differs from the stored entry at its sequence, or does not link to the head;
 * - `rollback`: the push goes to an epoch older than one the device already started.
 */
export type AuditChainRefusal = 'gap' | 'fork' | 'rollback';

/** A device audit chain push was refused; nothing of the batch was stored. */
export class AuditChainRejectedError extends SyncStorageError {
  override readonly name = 'AuditChainRejectedError';
  readonly code = 'audit_chain_rejected';

  constructor(
    readonly kind: AuditChainRefusal,
    readonly deviceId: string,
    readonly epoch: number,
    /** The sequence at which the chains disagree. */
    readonly seq: number,
    detail: string,
  ) {
    super(`audit chain of device ${deviceId} epoch ${epoch} refused at ${seq} (${kind}): ${detail}`);
  }
}

/** Why a checkpoint was refused. */
export type CheckpointRefusal = 'beyond_log' | 'rollback' | 'conflict';

/**
 * A checkpoint could not be stored: it names more leaves than the log holds, is smaller than
 * the latest stored one, or gives another root for a size already checkpointed.
 */
export class CheckpointRejectedError extends SyncStorageError {
  override readonly name = 'CheckpointRejectedError';
  readonly code = 'checkpoint_rejected';

  constructor(
    readonly reason: CheckpointRefusal,
    detail: string,
  ) {
    super(`checkpoint refused (${reason}): ${detail}`);
  }
}
