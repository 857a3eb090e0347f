/**
 * Changes parsed once. The push route parses every pushed change with `changeInputSchema` (its
 * body schema), and `appendChanges` used to parse the same changes again with the same schema:
 * the sync benchmark measured that second parse at about a tenth of the server's push time.
 *
 * `parsedChangeSchema` is `changeInputSchema` whose output is frozen (the change and its fields,
 * whose values are primitives) and remembered here. A storage's `parseChangeBatch` then skips the
 * per-change schema for changes it knows were produced by that parse and cannot have changed
 * since, and checks by hand only what the batch schema adds (the batch's device and transaction,
 * its size, ids unique in it). Any other input (another caller's objects, a copy, a mutated
 * array element) takes the full `changeBatchSchema` parse, so the storage API stays as safe as
 * before for every caller.
 */
import {
  type ChangeBatch,
  type ChangeInput,
  MAX_CHANGES_PER_BATCH,
  changeBatchSchema,
  changeInputSchema,
  deviceIdSchema,
  parseInput,
  recordIdSchema,
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

const BATCH_KEYS = ['changes', 'deviceId', 'txId'];

/** True when the batch holds only already-parsed changes and meets the batch schema's own rules. */
function isParsedBatch(input: ChangeBatch): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const keys = Object.keys(input).sort();
  if (keys.length !== BATCH_KEYS.length || keys.some((key, i) => key !== BATCH_KEYS[i])) return false;
  const { deviceId, txId, changes } = input;
  if (!Array.isArray(changes) || changes.length < 1 || changes.length > MAX_CHANGES_PER_BATCH) return false;
  if (!deviceIdSchema.safeParse(deviceId).success || !recordIdSchema.safeParse(txId).success) return false;
  const seen = new Set<string>();
  for (const change of changes) {
    if (!parsedChanges.has(change) || change.deviceId !== deviceId || change.txId !== txId) return false;
    if (seen.has(change.changeId)) return false;
    seen.add(change.changeId);
  }
  return true;
}

/**
 * The batch, parsed: already-parsed changes are checked for the batch rules only, anything else
 * goes through `changeBatchSchema` (throwing InvalidInputError as before). The array is copied,
 * so a caller changing its own array after the call changes nothing stored.
 */
export function parseChangeBatch(input: ChangeBatch): ParsedChangeBatch {
  if (isParsedBatch(input)) return { deviceId: input.deviceId, txId: input.txId, changes: [...input.changes] };
  return parseInput(changeBatchSchema, input);
}
