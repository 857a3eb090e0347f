/**
 * What one replicated entity declares, once, for every part of sync (docs/architecture.md,
 * "Adding a replicated entity"): the device's capture, apply and join, the server's batch
 * validation, the conflicts inbox and the convergence test all read these declarations instead
 * of keeping lists of their own. One module per entity sits beside this file; entities.ts lists them.
 */
import { z } from 'zod';
import type { Permission } from '../../permissions.js';
import type { FieldValue, MergeKind } from '../field-value.js';

/** One replicated field (a column of the entity's table, unless `column` is false). */
export interface FieldDeclaration {
  /**
   * The domain schema a value must satisfy: the API's own field schema where there is one. The
   * device checks it when it records a change and the server when a change is pushed (a value
   * that fails is quarantined with reason `schema`), so a raw client cannot spread a malformed
   * value to every device.
   */
  readonly value: z.ZodType;
  /** What the conflicts inbox calls the field. */
  readonly words: string;
  /** Added after the entity's first version: inserts recorded by older versions lack it, and it starts as null. */
  readonly addedLater?: true;
  /**
   * False for a field that is not a column of the table but is computed from other tables on
   * devices; the entity's replication hooks (main/core/replication-hooks.ts) read and write it.
   */
  readonly column?: false;
}

/** What a permission rule or a branch rule sees of a change: no clocks, no ids of the envelope but these. */
export interface ChangeFacts {
  readonly op: 'insert' | 'update' | 'delete';
  readonly rowId: string;
  readonly userId: string;
  readonly fields: Readonly<Record<string, FieldValue>>;
}

/**
 * How the server finds the branch a change belongs to (docs/sync-protocol.md, "Branch scope"):
 * - `clinic`: clinic-wide rows (users, branches), not scoped to a branch;
 * - `patient`: a row of one patient, whose id is the row id. `branchField` names the field that
 *   places the patient in a branch (the patient row itself); `needsPatient` says the row is kept
 *   beside its patient on devices (a foreign key), so its insert is refused while the change log
 *   has not registered that patient.
 */
export type BranchRule =
  | { readonly kind: 'clinic' }
  | { readonly kind: 'patient'; readonly branchField?: string; readonly needsPatient?: true };

/**
 * How long the law or the clinic keeps an entity's rows (for the retention engine to come;
 * ../shared/DOMAIN.md, "Records retention"): clinical records at least 3 years, billing 8 years,
 * accounts and the clinic's own configuration until deleted.
 */
export type RetentionClass = 'clinical-record' | 'billing' | 'account' | 'clinic-configuration';

/** Which of updated_at / updated_by the device table carries beside the replicated fields. */
export type LocalStamp = 'none' | 'at' | 'both';

/** Everything sync knows about one replicated entity. */
export interface EntityDeclaration {
  readonly kind: MergeKind;
  /** The device's table its rows live in. */
  readonly table: string;
  /** The table's column holding the row id. */
  readonly key: string;
  /** The replicated fields, in column order. Local-only columns (lockout state, rowid) are absent. */
  readonly fields: Readonly<Record<string, FieldDeclaration>>;
  readonly localStamp: LocalStamp;
  /**
   * False for an entity declared before its slice builds the table: devices do not apply its
   * changes and nothing may write it (writePermissions answers null).
   */
  readonly appliedOnDevices: boolean;
  /**
   * The permissions a change needs, from the shared permission matrix; null when no permission
   * writes the entity yet (the server refuses it, fail closed).
   */
  readonly writePermissions: (change: ChangeFacts) => readonly Permission[] | null;
  readonly branch: BranchRule;
  /** What the conflicts inbox calls the entity. */
  readonly words: string;
  readonly retention: RetentionClass;
  /**
   * The order a connecting device uploads the rows it already holds, and a joining device writes
   * them (lower first: users before the rows they wrote, patients before their histories), and
   * the column naming the user a row is attributed to when it is not the connecting Admin.
   */
  readonly upload: { readonly order: number; readonly authorColumn?: string };
}

/** An integer 0/1 column (SQLite has no boolean). */
export const zeroOrOne = z.union([z.literal(0), z.literal(1)]);

/** The value a field's JSON text holds, when it is text that parses and satisfies `schema`; else undefined. */
export function parseJsonText<Schema extends z.ZodType>(schema: Schema, text: unknown): z.output<Schema> | undefined {
  if (typeof text !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const checked = schema.safeParse(parsed);
  return checked.success ? checked.data : undefined;
}

/**
 * A field holding the canonical JSON text of a value (medical lists, branch assignments): valid
 * when the text parses and the parsed value satisfies `schema`.
 */
export function jsonText(schema: z.ZodType): z.ZodType {
  return z.string().refine((text) => parseJsonText(schema, text) !== undefined, 'not valid JSON of the expected shape');
}

/** True when a change sets any of `fields`. */
export function setsAny(change: ChangeFacts, fields: ReadonlySet<string>): boolean {
  return Object.keys(change.fields).some((field) => fields.has(field));
}
