/**
 * The shapes that cross the storage boundary, as zod schemas: what callers pass in (parsed
 * before anything is written) and what the storage returns (rows read back from a database are
 * parsed too, so a corrupted or tampered row fails loudly instead of flowing on).
 *
 * Times are integer milliseconds since the Unix epoch (UTC) everywhere; hashes are lower-case
 * hex text, except Merkle hashes and keys, which are bytes.
 *
 * The shapes that also cross the sync wire (ids, changes, audit entries, quarantined changes,
 * limits) are declared in shared/sync/wire/records.ts and re-exported here.
 */
import { z } from 'zod';
import { auditEntryBodySchema } from '../../shared/audit-chain.js';
import { roleSchema } from '../../shared/permissions.js';
import { base64Of } from '../../shared/sync/entities/user-signing-key.js';
import {
  MAX_AUDIT_ENTRIES_PER_BATCH,
  MAX_CHANGES_PER_BATCH,
  MAX_CHECKPOINT_NOTE_LENGTH,
  MAX_ENROLLMENT_CODE_TTL_MS,
  MAX_PAGE_SIZE,
  type AuditChainHead,
  type ChangeInput,
  type QuarantinedChange,
  type StoredChange,
  auditEntryInputSchema,
  changeInputSchema,
  clinicIdSchema,
  countSchema,
  deviceIdSchema,
  fieldValueSchema,
  hexHashSchema,
  machineNameSchema,
  positiveIntSchema,
  quarantineReasonSchema,
  recordIdSchema,
  timeMsSchema,
} from '../../shared/sync/wire/records.js';
import { InvalidInputError } from './errors.js';

export {
  MAX_AUDIT_BODY_LENGTH,
  MAX_AUDIT_ENTRIES_PER_BATCH,
  MAX_CHANGES_PER_BATCH,
  MAX_CHANGE_FIELDS_LENGTH,
  MAX_CHECKPOINT_NOTE_LENGTH,
  MAX_ENROLLMENT_CODE_TTL_MS,
  MAX_PAGE_SIZE,
  type AuditChainHead,
  type AuditEntryInput,
  type ChangeInput,
  type QuarantineReason,
  type QuarantinedChange,
  type StoredChange,
  auditChainHeadSchema,
  auditEntryInputSchema,
  changeInputSchema,
  changeOpSchema,
  clinicIdSchema,
  deviceIdSchema,
  fieldValueSchema,
  hexHashSchema,
  quarantineReasonSchema,
  quarantinedChangeSchema,
  recordIdSchema,
  storedChangeSchema,
  timeMsSchema,
} from '../../shared/sync/wire/records.js';

/** Most leaf hashes one read returns (32 bytes each: 2 MiB). */
export const MAX_LEAF_HASHES_PER_READ = 65_536;
/** 32 raw bytes (a Merkle hash or an Ed25519 public key), copied into a plain Uint8Array. */
export const bytes32Schema = z
  .custom<Uint8Array>((value) => value instanceof Uint8Array, 'must be bytes')
  .refine((bytes) => bytes.length === 32, 'must be 32 bytes')
  .transform((bytes) => new Uint8Array(bytes));
/** Details of a security event: flat scalars, never patient data. */
export const detailsSchema = z
  .record(z.string().min(1).max(64), fieldValueSchema)
  .refine((details) => Object.keys(details).length <= 32, 'at most 32 details');

// ---- clinics and enrollment ----

/** A clinic the server holds. */
export const clinicSchema = z.strictObject({
  clinicId: clinicIdSchema,
  name: z.string().min(1).max(200),
  createdAt: timeMsSchema,
});
export type Clinic = z.infer<typeof clinicSchema>;

/** Input of SyncStorage.createClinic. */
export const createClinicInputSchema = z.strictObject({ name: z.string().trim().min(1).max(200) });
export type CreateClinicInput = z.input<typeof createClinicInputSchema>;

/** An enrollment code as stored: never the code itself, which exists only in the creator's answer. */
export const enrollmentCodeRecordSchema = z.strictObject({
  codeId: z.uuid(),
  createdAt: timeMsSchema,
  expiresAt: timeMsSchema,
  createdBy: recordIdSchema.nullable(),
  redeemedAt: timeMsSchema.nullable(),
  redeemedByDevice: deviceIdSchema.nullable(),
});
export type EnrollmentCodeRecord = z.infer<typeof enrollmentCodeRecordSchema>;

/** Input of ClinicStore.createEnrollmentCode. */
export const createEnrollmentCodeInputSchema = z.strictObject({
  ttlMs: z.number().int().min(1).max(MAX_ENROLLMENT_CODE_TTL_MS),
  /** The admin user who asked for it, for the audit trail. */
  createdBy: recordIdSchema.nullable(),
});
export type CreateEnrollmentCodeInput = z.input<typeof createEnrollmentCodeInputSchema>;

/** A freshly made code: the text to hand to the admin once, and what was stored. */
export interface CreatedEnrollmentCode {
  readonly code: string;
  readonly record: EnrollmentCodeRecord;
}

/** An enrolled device. */
export const deviceSchema = z.strictObject({
  deviceId: deviceIdSchema,
  name: z.string().min(1).max(100),
  /** Raw 32-byte Ed25519 public key; requests and audit heads are signed with its private half. */
  publicKey: bytes32Schema,
  enrollmentCodeId: z.uuid(),
  enrolledAt: timeMsSchema,
  /**
   * The device's number in its clinic (1, 2, 3... in order of enrollment, never reused): devices
   * other than number 1 allocate patient numbers in their own space (docs/sync-protocol.md,
   * "Domain conflicts").
   */
  deviceNumber: z.number().int().min(1),
  revokedAt: timeMsSchema.nullable(),
  revokedReason: z.string().min(1).max(500).nullable(),
});
export type Device = z.infer<typeof deviceSchema>;

/** Input of SyncStorage.redeemEnrollmentCode: the code and the device it enrolls. */
export const redeemEnrollmentCodeInputSchema = z.strictObject({
  code: z.string().min(1).max(100),
  deviceId: deviceIdSchema,
  name: z.string().trim().min(1).max(100),
  publicKey: bytes32Schema,
});
export type RedeemEnrollmentCodeInput = z.input<typeof redeemEnrollmentCodeInputSchema>;

/** What a successful redemption returns: the clinic the code belonged to and the new device. */
export interface EnrolledDevice {
  readonly clinicId: string;
  readonly device: Device;
}

/** Input of ClinicStore.revokeDevice. */
export const revokeDeviceInputSchema = z.strictObject({
  deviceId: deviceIdSchema,
  reason: z.string().trim().min(1).max(500),
});
export type RevokeDeviceInput = z.input<typeof revokeDeviceInputSchema>;

// ---- changes ----

/**
 * The changes of one local transaction, pushed by one (authenticated) device. They are applied
 * together or not at all.
 */
export const changeBatchSchema = changeBatchSchemaOf(changeInputSchema);

/**
 * The batch rules (its device and transaction, 1 to 1000 changes, ids unique in it) around a
 * schema for each change: `changeInputSchema` for any caller, or, in parsed-changes.ts, a check
 * that each change is one the push route already parsed with it.
 */
export function changeBatchSchemaOf<Change extends z.ZodType<ChangeInput, unknown>>(change: Change) {
  return z
    .strictObject({
      deviceId: deviceIdSchema,
      txId: recordIdSchema,
      changes: z.array(change).min(1).max(MAX_CHANGES_PER_BATCH),
    })
    .superRefine((batch, context) => {
      const seen = new Set<string>();
      (batch.changes as readonly ChangeInput[]).forEach((change, index) => {
        if (change.deviceId !== batch.deviceId) {
          context.addIssue({ code: 'custom', path: ['changes', index, 'deviceId'], message: 'not the pushing device' });
        }
        if (change.txId !== batch.txId) {
          context.addIssue({ code: 'custom', path: ['changes', index, 'txId'], message: 'not the batch transaction' });
        }
        if (seen.has(change.changeId)) {
          context.addIssue({ code: 'custom', path: ['changes', index, 'changeId'], message: 'repeated in the batch' });
        }
        seen.add(change.changeId);
      });
    });
}
export type ChangeBatch = z.input<typeof changeBatchSchema>;

/** The server sequence number given to each change of a batch, in batch order. */
export interface AppendedChange {
  readonly changeId: string;
  readonly serverSeq: number;
  /** False when the change was already stored (an idempotent re-push): nothing was inserted. */
  readonly inserted: boolean;
}

/** Result of ClinicStore.appendChanges. */
export interface AppendChangesResult {
  readonly changes: readonly AppendedChange[];
}

/** A cursor read: entries after `after`, at most `limit` of them. */
export const pageQuerySchema = z.strictObject({
  after: countSchema,
  limit: z.number().int().min(1).max(MAX_PAGE_SIZE),
});
export type PageQuery = z.input<typeof pageQuerySchema>;

/** One page of changes in server order; `cursor` is what to pass as `after` next. */
export interface ChangePage {
  readonly changes: readonly StoredChange[];
  readonly hasMore: boolean;
  readonly cursor: number;
}

// ---- device audit chains and the clinic's Merkle log ----

/** Consecutive entries of one device chain in one epoch. */
export const auditBatchSchema = z
  .strictObject({
    deviceId: deviceIdSchema,
    epoch: positiveIntSchema,
    entries: z.array(auditEntryInputSchema).min(1).max(MAX_AUDIT_ENTRIES_PER_BATCH),
  })
  .transform((batch, context) => {
    // The body is what was hashed, so its own device, epoch and sequence must be the ones the
    // entry is filed under; the device time is read from it.
    const entries = batch.entries.map((entry, index) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(entry.body);
      } catch {
        parsed = undefined;
      }
      const body = auditEntryBodySchema.safeParse(parsed);
      if (!body.success) {
        context.addIssue({ code: 'custom', path: ['entries', index, 'body'], message: 'not an audit entry body' });
        return { ...entry, deviceTime: 0 };
      }
      if (body.data.deviceId !== batch.deviceId || body.data.epoch !== batch.epoch || body.data.seq !== entry.seq) {
        context.addIssue({
          code: 'custom',
          path: ['entries', index, 'body'],
          message: 'body names another device, epoch or sequence',
        });
      }
      return { ...entry, deviceTime: body.data.time };
    });
    return { ...batch, entries };
  });
export type AuditBatch = z.input<typeof auditBatchSchema>;
export type ParsedAuditBatch = z.output<typeof auditBatchSchema>;

/** An accepted audit entry with the server's receipt time and its leaf in the clinic's Merkle log. */
export const auditEntryRecordSchema = z.strictObject({
  deviceId: deviceIdSchema,
  epoch: positiveIntSchema,
  seq: positiveIntSchema,
  body: z.string(),
  prevHash: hexHashSchema,
  hash: hexHashSchema,
  /** The time the device wrote in the entry (its clock, not trusted). */
  deviceTime: timeMsSchema,
  /** When the server accepted it (the server's clock). */
  receivedAt: timeMsSchema,
  leafIndex: countSchema,
});
export type AuditEntryRecord = z.infer<typeof auditEntryRecordSchema>;

/** Result of ClinicStore.appendAuditEntries. */
export interface AppendAuditResult {
  /** The entries stored now, in order, with their leaf indexes. */
  readonly appended: readonly AuditEntryRecord[];
  /** Entries of the batch the server already held, identical (an idempotent re-push). */
  readonly duplicates: number;
  readonly head: AuditChainHead;
}

/** One page of audit entries in leaf order; `cursor` is a leaf count (pass it as `after`). */
export interface AuditEntryPage {
  readonly entries: readonly AuditEntryRecord[];
  readonly hasMore: boolean;
  readonly cursor: number;
}

/** A signed tree head of the clinic's Merkle log (a C2SP checkpoint note). */
export const checkpointRecordSchema = z.strictObject({
  size: countSchema,
  rootHash: bytes32Schema,
  /** The signed note text, exactly as published. */
  note: z.string().min(1).max(MAX_CHECKPOINT_NOTE_LENGTH),
  createdAt: timeMsSchema,
});
export type CheckpointRecord = z.infer<typeof checkpointRecordSchema>;

/** Input of ClinicStore.storeCheckpoint. */
export const checkpointInputSchema = checkpointRecordSchema.omit({ createdAt: true });
export type CheckpointInput = z.input<typeof checkpointInputSchema>;

// ---- security events ----

/** A security event: a refused chain, a revoked device's request, an enrollment failure. */
export const securityEventSchema = z.strictObject({
  eventSeq: positiveIntSchema,
  kind: machineNameSchema,
  deviceId: deviceIdSchema.nullable(),
  userId: recordIdSchema.nullable(),
  details: detailsSchema,
  occurredAt: timeMsSchema,
});
export type SecurityEvent = z.infer<typeof securityEventSchema>;

/** Input of ClinicStore.appendSecurityEvent. */
export const securityEventInputSchema = securityEventSchema.omit({ eventSeq: true, occurredAt: true });
export type SecurityEventInput = z.input<typeof securityEventInputSchema>;

/** One page of security events, oldest first. */
export interface SecurityEventPage {
  readonly events: readonly SecurityEvent[];
  readonly hasMore: boolean;
  readonly cursor: number;
}

/** Parses caller input; a failure becomes InvalidInputError naming the first problem (no values). */
export function parseInput<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'input';
  throw new InvalidInputError(`${where}: ${issue?.message ?? 'invalid'}`);
}

/** Thrown when a row read back from a database does not parse: corruption or tampering, never input. */
export class StoredRowError extends Error {
  override readonly name = 'StoredRowError';
}

/** Parses a row read back from a database into its record; throws StoredRowError (no values in the message). */
export function parseStoredRow<Schema extends z.ZodType>(schema: Schema, row: unknown, what: string): z.output<Schema> {
  const result = schema.safeParse(row);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new StoredRowError(
    `a stored ${what} row is invalid at ${issue?.path.join('.') || 'row'}: ${issue?.message ?? ''}`,
  );
}

// ---- quarantine and the user directory ----

/** One change of a batch to quarantine, with its reason and a short detail (names a field or rule, never a value). */
export const quarantineEntryInputSchema = z.strictObject({
  change: changeInputSchema,
  reason: quarantineReasonSchema,
  detail: z.string().max(200),
});

/** The changes of one local transaction, quarantined together. */
export const quarantineBatchSchema = z
  .strictObject({
    deviceId: deviceIdSchema,
    txId: recordIdSchema,
    entries: z.array(quarantineEntryInputSchema).min(1).max(MAX_CHANGES_PER_BATCH),
  })
  .superRefine((batch, context) => {
    const seen = new Set<string>();
    batch.entries.forEach(({ change }, index) => {
      if (change.deviceId !== batch.deviceId || change.txId !== batch.txId) {
        context.addIssue({ code: 'custom', path: ['entries', index], message: 'another device or transaction' });
      }
      if (seen.has(change.changeId)) {
        context.addIssue({ code: 'custom', path: ['entries', index, 'changeId'], message: 'repeated in the batch' });
      }
      seen.add(change.changeId);
    });
  });
export type QuarantineBatch = z.input<typeof quarantineBatchSchema>;

/**
 * Result of ClinicStore.quarantineChanges: the stored quarantine rows of the batch, or
 * `alreadyAccepted` when a change of the batch is already in the change log (nothing stored).
 */
export type QuarantineResult =
  | { readonly outcome: 'quarantined'; readonly changes: readonly QuarantinedChange[] }
  | { readonly outcome: 'alreadyAccepted' };

/** A lookup of quarantined changes by id. */
export const changeIdListSchema = z.array(recordIdSchema).max(MAX_CHANGES_PER_BATCH);

/** A page of one device's quarantined changes. */
export const quarantineQuerySchema = z.strictObject({
  deviceId: deviceIdSchema,
  after: countSchema,
  limit: z.number().int().min(1).max(MAX_PAGE_SIZE),
});
export type QuarantineQuery = z.input<typeof quarantineQuerySchema>;

/** One page of quarantined changes, oldest first; `cursor` is what to pass as `after` next. */
export interface QuarantinePage {
  readonly changes: readonly QuarantinedChange[];
  readonly hasMore: boolean;
  readonly cursor: number;
}

/** Largest number of branches one user's assignment may name. */
export const MAX_USER_BRANCHES = 1000;

/** A user's branch ids as the directory keeps them (from the user's replicated `branch_ids`). */
export const directoryBranchIdsSchema = z.array(recordIdSchema).max(MAX_USER_BRANCHES);

/**
 * A clinic user as the server knows them: the role, whether they may work in every branch, and
 * their branch ids, each last writer wins by the HLC that set it. `allBranches`/`branchIds` are
 * null while no accepted change carried them (a user recorded by an older device version, or
 * before the server kept them): such a user's branch scope is not checked.
 */
export const directoryUserSchema = z.strictObject({
  userId: recordIdSchema,
  role: roleSchema,
  roleHlc: z.string().min(1).max(82),
  allBranches: z.boolean().nullable(),
  branchIds: directoryBranchIdsSchema.nullable(),
  /** The user's Ed25519 public key (base64), or null for a user made before signing keys. */
  signingKey: base64Of(32).nullable(),
  updatedAt: timeMsSchema,
});
export type DirectoryUser = z.infer<typeof directoryUserSchema>;

/** One LWW value of a directory update, with the HLC of the change that set it. */
const clockedSchema = <T extends z.ZodType>(value: T) => z.strictObject({ value, hlc: z.string().min(1).max(82) });

/**
 * Input of ClinicStore.updateUserDirectory, from accepted `user` changes: the fields each change
 * carried. An entry with a role creates the user's row; an entry without one only updates a row
 * that exists (the directory learns users from their inserts, which carry the role).
 */
export const directoryUpdateSchema = z
  .array(
    z
      .strictObject({
        userId: recordIdSchema,
        role: roleSchema.optional(),
        roleHlc: z.string().min(1).max(82).optional(),
        allBranches: clockedSchema(z.boolean()).optional(),
        branchIds: clockedSchema(directoryBranchIdsSchema).optional(),
        signingKey: clockedSchema(base64Of(32)).optional(),
      })
      .refine((entry) => (entry.role === undefined) === (entry.roleHlc === undefined), {
        message: 'a role comes with its clock',
      }),
  )
  .max(MAX_CHANGES_PER_BATCH);
export type DirectoryUpdate = z.input<typeof directoryUpdateSchema>;

/** The branch a patient is in, from the accepted patient change with the highest HLC that set it. */
export const patientBranchSchema = z.strictObject({ patientId: recordIdSchema, branchId: recordIdSchema });
export type PatientBranch = z.infer<typeof patientBranchSchema>;

/** Result of ClinicStore.readUserDirectory: the users asked for that exist, and how many users the clinic has. */
export interface DirectoryLookup {
  readonly users: readonly DirectoryUser[];
  readonly size: number;
}

// ---- compaction ----

/** Input of ClinicStore.recordPulledCursor: the `after` a device pulled with (it has applied everything up to it). */
export const pulledCursorInputSchema = z.strictObject({ deviceId: deviceIdSchema, after: countSchema });

/** The highest `after` a device has pulled with, and when it was recorded. */
export const pulledCursorSchema = z.strictObject({
  deviceId: deviceIdSchema,
  after: countSchema,
  updatedAt: timeMsSchema,
});
export type PulledCursor = z.infer<typeof pulledCursorSchema>;

/** Result of ClinicStore.compactChanges. */
export interface CompactionResult {
  /** The lowest pulled cursor of the clinic's non-revoked devices (0 when one never pulled, or there is none). */
  readonly horizon: number;
  /** Changes moved out of the log by this run. */
  readonly removed: number;
  /** Changes left in the log. */
  readonly kept: number;
}
