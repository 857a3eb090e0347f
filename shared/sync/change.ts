/**
 * The change record: one row of a device's outbox, the unit devices push and pull. Every local
 * write of a replicated row records one, in the same transaction as the write (see the Sync
 * section of the architecture document and docs/sync-protocol.md, "Change capture and merge").
 *
 * The shape is the server's wire shape (sync-server/storage/records.ts `changeInputSchema`),
 * narrowed: ids are ULIDs, `entity` is one of the replicated entities declared below and `fields`
 * may only name that entity's declared fields. Entity and field names are lower-case snake case
 * because the server accepts nothing else; fields are the local table's column names.
 */
import { z } from 'zod';
import { encodedHlcDeviceId, hlcDeviceIdSchema } from './hlc.js';

/** Version of the change format and of the replicated entities' field lists; bumped additively. */
export const SYNC_SCHEMA_VERSION = 1;

/** Largest canonical JSON of one change's fields, in UTF-16 units (the server's limit). */
export const MAX_CHANGE_FIELDS_LENGTH = 64 * 1024;

/**
 * How an entity merges:
 * - `mutable`: field-by-field last-writer-wins by HLC; the losing value of a concurrent edit goes
 *   to the conflict log.
 * - `appendOnly`: written once by an insert and never overwritten; corrections are new records
 *   (amendments) pointing at the original, so updates and deletes are refused.
 */
export type MergeKind = 'mutable' | 'appendOnly';

/** What the merge and the server need to know about a replicated entity. */
export interface EntityDefinition {
  readonly kind: MergeKind;
  /** The local table its rows live in. */
  readonly table: string;
  /** The replicated fields (column names). Local-only columns (lockout state, rowid) are absent. */
  readonly fields: readonly string[];
}

/**
 * Every replicated entity, as data. `updated_at`/`updated_by` are not replicated fields: they
 * change on every write and would turn every pair of concurrent edits of different fields into a
 * conflict; the change's HLC and user id carry that information instead.
 *
 * Audit entries are append-only too but travel as signed hash chains (`POST /v1/audit`), not as
 * change records, so they are not listed here.
 */
export const REPLICATED_ENTITIES = {
  patient: {
    kind: 'mutable',
    table: 'patients',
    fields: [
      'patient_number',
      'branch_id',
      'first_name',
      'last_name',
      'date_of_birth',
      'sex',
      'phone',
      'email',
      'address',
      'archived_at',
      'archive_reason',
      // The record this one was merged into (patients.merge): replicated so every device marks
      // the pair merged and links the two records.
      'merged_into',
      'created_at',
      'created_by',
    ],
  },
  // One row per patient (row id = patient id); each list is one field holding its JSON text.
  patient_medical: {
    kind: 'mutable',
    table: 'patient_medical',
    fields: ['allergies', 'conditions', 'medications'],
  },
  branch: { kind: 'mutable', table: 'branches', fields: ['name', 'created_at'] },
  user: {
    kind: 'mutable',
    table: 'users',
    // The bcrypt hash replicates so users sign in on every device of the clinic; failed attempts
    // and lockout state stay local to the device they happened on.
    fields: [
      'username',
      'display_name',
      'role',
      'all_branches',
      'disabled',
      'password_hash',
      'password_changed_at',
      'created_at',
      // The user's branch assignments (table user_branches), as one field: the canonical JSON text
      // of the sorted branch id list ('[]' for all-branches users), so an assignment changes as a
      // whole under last-writer-wins like a medical list. Absent from changes of older versions.
      'branch_ids',
    ],
  },
  // Planned append-only entities; their tables do not exist yet. TODO: fill in the fields when
  // the clinical notes, billing and consent slices add the tables.
  clinical_note: { kind: 'appendOnly', table: 'clinical_notes', fields: [] },
  payment: { kind: 'appendOnly', table: 'payments', fields: [] },
  consent: { kind: 'appendOnly', table: 'consents', fields: [] },
} as const satisfies Record<string, EntityDefinition>;

/** The name of a replicated entity. */
export type EntityName = keyof typeof REPLICATED_ENTITIES;

/** The replicated entity names, as a zod enum. */
export const entityNameSchema = z.enum(Object.keys(REPLICATED_ENTITIES) as [EntityName, ...EntityName[]]);

/** The definition of an entity. */
export function entityDefinition(entity: EntityName): EntityDefinition {
  return REPLICATED_ENTITIES[entity];
}

/** A ULID: 26 Crockford base32 characters, time-ordered. */
export const ulidSchema = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a ULID');

/** A field value: JSON scalars only. No floats (money is in minor units), so every replica stores the same bits. */
export const fieldValueSchema = z.union([
  z.string(),
  z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  z.boolean(),
  z.null(),
]);
export type FieldValue = z.infer<typeof fieldValueSchema>;

/** Kinds of change. A delete is a tombstone, never a physical delete. */
export const changeOpSchema = z.enum(['insert', 'update', 'delete']);
export type ChangeOp = z.infer<typeof changeOpSchema>;

/** The parts of a change every entity shares. */
const changeEnvelope = {
  changeId: ulidSchema,
  /** Shared by every change of one local transaction; the server applies them together or not at all. */
  txId: ulidSchema,
  deviceId: hlcDeviceIdSchema,
  userId: ulidSchema,
  rowId: ulidSchema,
  op: changeOpSchema,
  /** Encoded hybrid logical clock (`encodeHlc`): its string order is its clock order. */
  hlc: z.string().max(82),
  schemaVersion: z.number().int().min(1).max(SYNC_SCHEMA_VERSION),
};

/**
 * One replicated change of any entity: the type code works with (fields by name). What
 * validates a change is `changeRecordSchema` below, which also holds each entity to its fields.
 */
export const changeRecordShape = z.strictObject({
  ...changeEnvelope,
  entity: entityNameSchema,
  fields: z.record(z.string(), fieldValueSchema),
});
export type ChangeRecord = z.infer<typeof changeRecordShape>;

/**
 * An upper bound of the length of `JSON.stringify(fields)`: a character of a name or a string
 * value takes at most 6 in JSON (\\uXXXX), quotes, colon and comma 4 a field, and a safe integer,
 * a boolean or null at most 24.
 */
function jsonLengthBound(fields: Readonly<Record<string, FieldValue | undefined>>): number {
  let bound = 2;
  for (const name in fields) {
    const value = fields[name];
    bound += 6 * name.length + 4 + (typeof value === 'string' ? 6 * value.length + 2 : 24);
  }
  return bound;
}

/**
 * One entity's changes: its declared fields, each optional (an update carries some), and an
 * issue at `fields.<name>` for any other. An object per entity rather than one record checked
 * afterwards: zod compiles an object's checks, which makes a change about 2.5 times cheaper to
 * validate, and a join or a pull validates every change of the clinic.
 */
function entityChangeSchema<Entity extends EntityName>(entity: Entity) {
  const declared = Object.fromEntries(
    REPLICATED_ENTITIES[entity].fields.map((field) => [field, fieldValueSchema.optional()]),
  );
  return z.strictObject({
    ...changeEnvelope,
    entity: z.literal(entity),
    fields: z.object(declared).catchall(z.custom<never>(() => false, `not a field of ${entity}`)),
  });
}

const entityChangeSchemas = (Object.keys(REPLICATED_ENTITIES) as EntityName[]).map(entityChangeSchema);

/**
 * One replicated change, as recorded in the outbox and pushed. Its output is a ChangeRecord:
 * the per-entity objects only narrow which field names each entity may carry (an absent
 * optional field stays absent), so the cast restates the same values under the wider type.
 */
export const changeRecordSchema = z
  .discriminatedUnion(
    'entity',
    entityChangeSchemas as [(typeof entityChangeSchemas)[number], ...(typeof entityChangeSchemas)[number][]],
  )
  .superRefine((change, context) => {
    const clockDevice = encodedHlcDeviceId(change.hlc);
    if (clockDevice === null) {
      context.addIssue({ code: 'custom', path: ['hlc'], message: 'must be an encoded hybrid logical clock' });
    } else if (clockDevice !== change.deviceId) {
      context.addIssue({ code: 'custom', path: ['hlc'], message: 'clock of another device' });
    }
    if (change.op === 'update' && Object.keys(change.fields).length === 0) {
      context.addIssue({ code: 'custom', path: ['fields'], message: 'an update changes at least one field' });
    }
    // Most changes are far below the limit by a bound that needs no serialisation.
    if (
      jsonLengthBound(change.fields) > MAX_CHANGE_FIELDS_LENGTH &&
      JSON.stringify(change.fields).length > MAX_CHANGE_FIELDS_LENGTH
    ) {
      context.addIssue({ code: 'custom', path: ['fields'], message: 'fields are too large' });
    }
  }) as unknown as z.ZodType<ChangeRecord, unknown>;
