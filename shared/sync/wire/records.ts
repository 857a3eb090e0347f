/**
 * The records that cross the sync wire, as zod schemas, shared by the server (which parses what
 * devices send and stores it: sync-server/storage/records.ts re-exports these) and the devices
 * (which parse what the server answers). Times are integer milliseconds since the Unix epoch;
 * hashes are lower-case hex, Merkle hashes and keys base64 on the wire.
 */
import { z } from 'zod';
import { Base64Error, decodeBase64 } from '../../merkle/base64.js';
import { MAX_CHANGE_FIELDS_LENGTH } from '../change.js';
import { encodedHlcSchema, hlcDeviceIdSchema } from '../hlc.js';

export { MAX_CHANGE_FIELDS_LENGTH };

/** Most changes in one pushed batch (one local transaction). */
export const MAX_CHANGES_PER_BATCH = 1000;
/** Most audit entries in one pushed batch. */
export const MAX_AUDIT_ENTRIES_PER_BATCH = 1000;
/**
 * Largest page a read returns: 5,000 changes are about 2.6 MB of JSON. A joining device pulls
 * whole clinics in pages this size (1,000 before 2026-11-22; larger pages cut the per-page
 * transaction and token check, measured in docs/sync-protocol.md "Benchmarks").
 */
export const MAX_PAGE_SIZE = 5000;
/** Largest canonical body of one audit entry. */
export const MAX_AUDIT_BODY_LENGTH = 16 * 1024;
/** Largest signed checkpoint note (the C2SP signed-note limit used in shared/merkle). */
export const MAX_CHECKPOINT_NOTE_LENGTH = 128 * 1024;
/** Longest an enrollment code may stay valid: codes are for enrolling a device now, not later. */
export const MAX_ENROLLMENT_CODE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const ID_PATTERN = /^[0-9A-Za-z_-]{1,64}$/;
const HEX_HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Milliseconds since the Unix epoch. */
export const timeMsSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** A clinic id: a UUID the server's storage generated. */
export const clinicIdSchema = z.uuid();
/** A device id as the hybrid logical clock accepts it (ULIDs fit). */
export const deviceIdSchema = hlcDeviceIdSchema;
/** A ULID, UUIDv7 or similar client-made id: 1 to 64 ASCII letters, digits, `_` or `-`. */
export const recordIdSchema = z.string().regex(ID_PATTERN, 'must be an id of 1 to 64 letters, digits, _ or -');
/** A SHA-256 digest as lower-case hex. */
export const hexHashSchema = z.string().regex(HEX_HASH_PATTERN, 'must be a lower-case hex SHA-256');
/** A count or sequence number from 1. */
export const positiveIntSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** A count or cursor from 0. */
export const countSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A field value a change may carry: scalars only (rows are flat; money is in minor units). */
export const fieldValueSchema = z.union([
  z.string(),
  z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  z.boolean(),
  z.null(),
]);
/** A short machine name: table, field, event kind. */
export const machineNameSchema = z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/, 'must be a lower-case machine name');

/** Canonical standard base64 (RFC 4648) of exactly `length` bytes, decoded. */
export function base64BytesSchema(length: number) {
  return z
    .string()
    .max(4 * Math.ceil(length / 3))
    .transform((text, context) => {
      try {
        const bytes = decodeBase64(text);
        if (bytes.length === length) return bytes;
      } catch (error) {
        if (!(error instanceof Base64Error)) throw error;
      }
      context.addIssue({ code: 'custom', message: `must be base64 of ${length} bytes` });
      return z.NEVER;
    });
}

/** A decimal non-negative integer in a query string. */
export const queryCountSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/)
  .transform(Number)
  .refine(Number.isSafeInteger);

// ---- changes ----

/** Kinds of change: deletions are tombstones, never physical deletes. */
export const changeOpSchema = z.enum(['insert', 'update', 'delete']);

/** One replicated change as a device pushes it (one row of its outbox). */
export const changeInputSchema = z
  .strictObject({
    changeId: recordIdSchema,
    txId: recordIdSchema,
    deviceId: deviceIdSchema,
    userId: recordIdSchema,
    entity: machineNameSchema,
    rowId: recordIdSchema,
    op: changeOpSchema,
    fields: z.record(machineNameSchema, fieldValueSchema),
    /** Encoded hybrid logical clock (`encodeHlc`), kept as text: its string order is its clock order. */
    hlc: z.string().max(82),
    schemaVersion: positiveIntSchema,
  })
  .superRefine((change, context) => {
    const hlc = encodedHlcSchema.safeParse(change.hlc);
    if (!hlc.success) {
      context.addIssue({ code: 'custom', path: ['hlc'], message: 'must be an encoded hybrid logical clock' });
    } else if (hlc.data.deviceId !== change.deviceId) {
      context.addIssue({ code: 'custom', path: ['hlc'], message: 'clock of another device' });
    }
    if (JSON.stringify(change.fields).length > MAX_CHANGE_FIELDS_LENGTH) {
      context.addIssue({ code: 'custom', path: ['fields'], message: 'fields are too large' });
    }
  });
export type ChangeInput = z.infer<typeof changeInputSchema>;

/** A change as the server stores and serves it: the pushed change, its server sequence number and receipt time. */
export const storedChangeSchema = z.strictObject({
  serverSeq: positiveIntSchema,
  changeId: recordIdSchema,
  txId: recordIdSchema,
  deviceId: deviceIdSchema,
  userId: recordIdSchema,
  entity: machineNameSchema,
  rowId: recordIdSchema,
  op: changeOpSchema,
  fields: z.record(z.string(), fieldValueSchema),
  hlc: z.string(),
  schemaVersion: positiveIntSchema,
  receivedAt: timeMsSchema,
});
export type StoredChange = z.infer<typeof storedChangeSchema>;

// ---- quarantine ----

/**
 * Why a pushed change was quarantined and not applied (stored reasons; all permanent):
 * - `schema`: it fails the shared change schema (shared/sync/change.ts);
 * - `forbidden`: the role of the user who made it lacks the permission its entity and operation need;
 * - `unknown-user`: the server's user directory does not know the user who made it;
 * - `append-only`: an update or delete of an append-only entity;
 * - `with-batch`: valid itself, quarantined with the rest of its local transaction.
 */
export const quarantineReasonSchema = z.enum(['schema', 'forbidden', 'unknown-user', 'append-only', 'with-batch']);
export type QuarantineReason = z.infer<typeof quarantineReasonSchema>;

/** A quarantined change as stored and listed: its identity and the reason, never its field values. */
export const quarantinedChangeSchema = z.strictObject({
  quarantineSeq: positiveIntSchema,
  changeId: recordIdSchema,
  txId: recordIdSchema,
  deviceId: deviceIdSchema,
  userId: recordIdSchema,
  entity: machineNameSchema,
  rowId: recordIdSchema,
  op: changeOpSchema,
  hlc: z.string(),
  reason: quarantineReasonSchema,
  detail: z.string().max(200),
  quarantinedAt: timeMsSchema,
});
export type QuarantinedChange = z.infer<typeof quarantinedChangeSchema>;

// ---- device audit chains ----

/** One audit entry as a device pushes it; its hash is verified by the server. */
export const auditEntryInputSchema = z.strictObject({
  seq: positiveIntSchema,
  /** Canonical JSON of the entry body, exactly as hashed. */
  body: z.string().min(2).max(MAX_AUDIT_BODY_LENGTH),
  prevHash: hexHashSchema,
  hash: hexHashSchema,
});
export type AuditEntryInput = z.infer<typeof auditEntryInputSchema>;

/** The newest accepted entry of one device chain in one epoch. */
export const auditChainHeadSchema = z.strictObject({ seq: positiveIntSchema, hash: hexHashSchema });
export type AuditChainHead = z.infer<typeof auditChainHeadSchema>;
