/**
 * The values a replicated field may hold on the wire, and how an entity merges. Kept apart from
 * change.ts so the entity declarations (entities/) and the change format can both use them.
 */
import { z } from 'zod';

/** A field value: JSON scalars only. No floats (money is in minor units), so every replica stores the same bits. */
export const fieldValueSchema = z.union([
  z.string(),
  z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  z.boolean(),
  z.null(),
]);
export type FieldValue = z.infer<typeof fieldValueSchema>;

/**
 * How an entity merges:
 * - `mutable`: field-by-field last-writer-wins by HLC; the losing value of a concurrent edit goes
 *   to the conflict log.
 * - `appendOnly`: written once by an insert and never overwritten; corrections are new records
 *   (amendments) pointing at the original, so updates and deletes are refused.
 */
export type MergeKind = 'mutable' | 'appendOnly';
