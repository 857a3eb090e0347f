/**
 * The change record: one row of a device's outbox, the unit devices push and pull. Every local
 * write of a replicated row records one, in the same transaction as the write (see the Sync
 * section of the architecture document and docs/sync-protocol.md, "Change capture and merge").
 *
 * The shape is the server's wire shape (sync-server/storage/records.ts `changeInputSchema`),
 * narrowed: ids are ULIDs, `entity` is one of the replicated entities (entities.ts) and `fields`
 * may only name that entity's declared fields. Field values are checked against the entity's
 * domain schemas separately (entities.ts `domainRefusal`): a pulled page is read with the wire
 * schema alone, so a stricter domain schema never stops a device from reading the log. Entity and field names are lower-case snake case
 * because the server accepts nothing else; fields are the local table's column names.
 */
import { z } from 'zod';
import { ENTITY_DECLARATIONS, ENTITY_NAMES, type EntityName, fieldNames } from './entities.js';
import { type FieldValue, type MergeKind, fieldValueSchema } from './field-value.js';
import { encodedHlcDeviceId, hlcDeviceIdSchema } from './hlc.js';

/** Version of the change format and of the replicated entities' field lists; bumped additively. */
export const SYNC_SCHEMA_VERSION = 1;

/** Largest canonical JSON of one change's fields, in UTF-16 units (the server's limit). */
export const MAX_CHANGE_FIELDS_LENGTH = 64 * 1024;

/** What the merge and the server need to know about a replicated entity (from its declaration). */
export interface EntityDefinition {
  readonly kind: MergeKind;
  /** The local table its rows live in. */
  readonly table: string;
  /** The replicated fields (column names, and computed fields). Local-only columns are absent. */
  readonly fields: readonly string[];
}

/**
 * Every replicated entity as the merge sees it: kind, table and field names, read from the
 * declarations (entities.ts). `updated_at`/`updated_by` are not replicated fields: they change on
 * every write and would turn every pair of concurrent edits of different fields into a conflict;
 * the change's HLC and user id carry that information instead.
 */
export const REPLICATED_ENTITIES: Readonly<Record<EntityName, EntityDefinition>> = Object.fromEntries(
  ENTITY_NAMES.map((name) => [
    name,
    { kind: ENTITY_DECLARATIONS[name].kind, table: ENTITY_DECLARATIONS[name].table, fields: fieldNames(name) },
  ]),
) as Record<EntityName, EntityDefinition>;

export type { EntityName };

/** The replicated entity names, as a zod enum. */
export const entityNameSchema = z.enum(ENTITY_NAMES as [EntityName, ...EntityName[]]);

/** The definition of an entity. */
export function entityDefinition(entity: EntityName): EntityDefinition {
  return REPLICATED_ENTITIES[entity];
}

/** A ULID: 26 Crockford base32 characters, time-ordered. */
export const ulidSchema = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a ULID');

export { type FieldValue, type MergeKind, fieldValueSchema } from './field-value.js';

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
  const declared = Object.fromEntries(fieldNames(entity).map((field) => [field, fieldValueSchema.optional()]));
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
