/**
 * The work domains plug into sync (docs/architecture.md, "Adding a replicated entity"): sync
 * imports no domain; each domain hands it, through this table, what it must do beside the merge.
 * The table has an entry for every replicated entity, and an entity whose declaration has fields
 * that are not columns (`column: false`) must say how to read each: both are checked by the
 * compiler. main/core/replication.ts assembles the table from the domains' modules.
 */
import type { ChangeRecord, FieldValue } from '../../../shared/sync/change.js';
import type { ENTITY_DECLARATIONS, EntityName } from '../../../shared/sync/entities.js';
import type { FieldState } from '../../../shared/sync/merge.js';
import type { ReadDb, WriteDb } from '../db/access.js';

type Declarations = typeof ENTITY_DECLARATIONS;
type FieldsOf<Entity extends EntityName> = Declarations[Entity]['fields'];

/** The fields an entity declares with `column: false`: computed from other local tables. */
export type ComputedFieldName<Entity extends EntityName> = {
  [Field in keyof FieldsOf<Entity>]: FieldsOf<Entity>[Field] extends { readonly column: false } ? Field : never;
}[keyof FieldsOf<Entity>];

/** Reads a computed field's value for one row from the device's tables. */
export type ComputedFieldReader = (db: ReadDb, rowId: string) => FieldValue;

/**
 * Runs after a pulled change of the entity wrote its row, inside the page's transaction: search
 * indexes, review pairs, and writing computed fields back (`merged` holds the row's merged fields
 * with their clocks; a computed field is written back only when `change` won it).
 */
export type AfterWriteHook = (
  db: WriteDb,
  change: ChangeRecord,
  merged: Readonly<Record<string, FieldState>>,
  now: number,
) => void;

/**
 * True when a pulled insert of a row this device does not hold cannot be written, so the change is
 * skipped rather than merged (a user whose username another local user already has).
 */
export type RefusesNewRowHook = (db: ReadDb, change: ChangeRecord) => boolean;

/**
 * What a domain adds when a join (setup.joinClinic, join-apply.ts) writes its entity's rows in
 * bulk: the join merges the entity's changes in memory and inserts each final row once, instead of
 * running afterWrite per change. One per join.
 */
export interface BulkJoinWriter {
  /** Follows a row's values as the join's merge holds them, after each change or snapshot row that wrote it. */
  rowChanged(rowId: string, row: Readonly<Record<string, unknown>>): void;
  /** Columns the domain adds to each row's insert (computed over the whole join), in a fixed order. */
  readonly extraColumns: readonly string[];
  /** Their values for one row. */
  extraValues(rowId: string): Readonly<Record<string, unknown>>;
  /** After one row was inserted, with its SQLite rowid: what the domain keeps beside it. */
  inserted(db: WriteDb, rowid: number | bigint, row: Readonly<Record<string, unknown>>): void;
  /** Once every row of the entity is written. */
  finish(db: WriteDb, now: number): void;
}

/** What one entity's domain does beside the merge. */
export type EntityHooks<Entity extends EntityName> = {
  readonly afterWrite?: AfterWriteHook;
  readonly refusesNewRow?: RefusesNewRowHook;
  /**
   * The bulk form of afterWrite for a join. An entity with afterWrite or refusesNewRow and no
   * bulkJoin is joined change by change (applyRemoteChange); one with neither is joined in bulk
   * with nothing added.
   */
  readonly bulkJoin?: () => BulkJoinWriter;
} & ([ComputedFieldName<Entity>] extends [never]
  ? { readonly computed?: undefined }
  : { readonly computed: { readonly [Field in ComputedFieldName<Entity>]: ComputedFieldReader } });

/** Every replicated entity's hooks. */
export type ReplicationHooks = { readonly [Entity in EntityName]: EntityHooks<Entity> };

/** How to read one computed field of an entity, or undefined when the field is a column. */
export function computedReader(
  hooks: ReplicationHooks,
  entity: EntityName,
  field: string,
): ComputedFieldReader | undefined {
  const computed: Readonly<Record<string, ComputedFieldReader>> | undefined = hooks[entity].computed;
  return computed !== undefined && Object.hasOwn(computed, field) ? computed[field] : undefined;
}
