/**
 * Changes parsed once. The push route parses every pushed change with `changeInputSchema` (its
 * body schema), and `appendChanges` used to parse the same changes again with the same schema:
 * the sync benchmark measured that second parse at about a tenth of the server's push time.
 *
 * `parsedChangeSchema` is `changeInputSchema` whose output is frozen (the change and its fields,
 * whose values are primitives) and remembered here. A storage's `parseChangeBatch` then skips the
 * per-change schema for changes it knows were produced by that parse and cannot have changed
 * since, and checks only the batch rules (`changeBatchSchemaOf`: the batch's device and
 * transaction, its size, ids unique in it). Any other input (another caller's objects, a copy, a mutated
 * array element) takes the full `changeBatchSchema` parse, so the storage API stays as safe as
 * before for every caller.
 */
import { z } from 'zod';
import {
  type ChangeBatch,
  type ChangeInput,
  changeBatchSchema,
  changeBatchSchemaOf,
  changeInputSchema,
  parseInput,
} from './records.js';

/** Change objects produced by `parsedChangeSchema`; weak, so they go with their request. */
const parsedChanges = new WeakSet<ChangeInput>();

/** `changeInputSchema`, with its output frozen and known to `parseChangeBatch` as parsed. */
export const parsedChangeSchema = changeInputSchema.transform((change): ChangeInput => {
  Object.freeze(change.fields);
  parsedChanges.add(Object.freeze(change));
  return change;
});

/** A batch as `changeBatchSchema` parses it. */
export type ParsedChangeBatch = {
  readonly deviceId: string;
  readonly txId: string;
  readonly changes: readonly ChangeInput[];
};

/** The batch rules, around changes this module knows were parsed (zod copies the array). */
const alreadyParsedBatchSchema = changeBatchSchemaOf(
  z.custom<ChangeInput>(
    (value) => typeof value === 'object' && value !== null && parsedChanges.has(value as ChangeInput),
  ),
);

/**
 * The batch, parsed: already-parsed changes are checked for the batch rules only, anything else
 * goes through `changeBatchSchema` (throwing InvalidInputError as before). The array is copied,
 * so a caller changing its own array after the call changes nothing stored.
 */
export function parseChangeBatch(input: ChangeBatch): ParsedChangeBatch {
  const known = alreadyParsedBatchSchema.safeParse(input);
  if (known.success) return known.data;
  return parseInput(changeBatchSchema, input);
}
