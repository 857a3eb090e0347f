/**
 * Replication routes: a push sends the changes of one or more local transactions (one batch each,
 * applied atomically and idempotently by change id); a pull reads the clinic's changes after a
 * cursor, in pages; the quarantine lists the calling device's changes the server refused.
 */
import { z } from 'zod';
import { base64Of } from '../entities/user-signing-key.js';
import { PAGE_CURSOR_HEADER, PAGE_HAS_MORE_HEADER } from '../page-headers.js';
import {
  type ChangeInput,
  MAX_CHANGES_PER_BATCH,
  MAX_PAGE_SIZE,
  changeInputSchema,
  countSchema,
  positiveIntSchema,
  quarantineReasonSchema,
  quarantinedChangeSchema,
  queryCountSchema,
  recordIdSchema,
  storedChangeSchema,
} from './records.js';
import { defineSyncRoute } from './route.js';

/** Most batches (local transactions) in one push. */
export const MAX_BATCHES_PER_PUSH = 100;
/** Most changes in one push, over all its batches. */
export const MAX_CHANGES_PER_PUSH = 5000;
/** Page size of a pull or quarantine listing that names none. */
export const DEFAULT_PULL_LIMIT = 500;

/**
 * The push body around a schema for each change: `changeInputSchema` in the declaration, or on
 * the server the same schema whose output is remembered as parsed (storage/parsed-changes.ts).
 */
export function pushBodySchemaOf<Change extends z.ZodType<ChangeInput, z.input<typeof changeInputSchema>>>(
  change: Change,
) {
  return z
    .strictObject({
      protocolVersion: z.number().int().min(1),
      batches: z
        .array(
          z.strictObject({
            txId: recordIdSchema,
            changes: z.array(change).min(1),
            /**
             * The Ed25519 signature (base64) of `batchSigningText` (shared/sync/user-signing.ts) by
             * `signedBy`, the user whose session made the transaction (or the Admin who uploaded
             * rows when connecting a clinic). Absent for a user made before signing keys.
             */
            signature: base64Of(64).optional(),
            signedBy: recordIdSchema.optional(),
          }),
        )
        .min(1)
        .max(MAX_BATCHES_PER_PUSH),
    })
    .refine(
      (body) => body.batches.reduce((sum, batch) => sum + batch.changes.length, 0) <= MAX_CHANGES_PER_PUSH,
      'too many changes in one push',
    );
}

/** Why one change of a batch was not accepted, with a detail naming a rule or field, never a value. */
export const changeRefusalSchema = z.strictObject({
  changeId: recordIdSchema,
  /** A stored quarantine reason, or `clock-ahead` for a batch held back until the server's clock catches up. */
  reason: z.union([quarantineReasonSchema, z.literal('clock-ahead')]),
  detail: z.string().max(200),
});
export type ChangeRefusal = z.infer<typeof changeRefusalSchema>;

/** The server's number for one accepted change; `inserted` is false for an idempotent re-push. */
export const appendedChangeSchema = z.strictObject({
  changeId: recordIdSchema,
  serverSeq: positiveIntSchema,
  inserted: z.boolean(),
});

/**
 * One batch's outcome: accepted (each change's server number), quarantined (acknowledged with
 * reasons, never in the change log) or `retry` (held back for a clock ahead of the server's).
 * A union rather than a discriminated one because of the accepted batches of older servers.
 */
export const batchOutcomeSchema = z.union([
  // Servers before re-validation answer accepted batches without a status.
  z.strictObject({
    txId: recordIdSchema,
    status: z.literal('accepted').optional(),
    changes: z.array(appendedChangeSchema),
  }),
  z.strictObject({ txId: recordIdSchema, status: z.literal('quarantined'), changes: z.array(changeRefusalSchema) }),
  z.strictObject({ txId: recordIdSchema, status: z.literal('retry'), changes: z.array(changeRefusalSchema) }),
]);
export type BatchOutcome = z.infer<typeof batchOutcomeSchema>;

export const changesPush = defineSyncRoute({
  name: 'changes.push',
  method: 'POST',
  path: '/v1/changes',
  summary: 'Pushes the changes of local transactions, one atomic, idempotent batch each.',
  auth: 'device-token',
  // Offline work is never stranded: an outdated client's pushes are still accepted.
  allowOutdated: true,
  body: pushBodySchemaOf(changeInputSchema),
  answer: z.strictObject({
    batches: z.array(batchOutcomeSchema),
    /** True when the client's protocol is older than the server serves otherwise: it should update. */
    clientOutdated: z.boolean(),
  }),
  limits: [
    { name: 'MAX_BATCHES_PER_PUSH', value: MAX_BATCHES_PER_PUSH, what: 'batches per push' },
    { name: 'MAX_CHANGES_PER_PUSH', value: MAX_CHANGES_PER_PUSH, what: 'changes per push, all batches' },
    { name: 'MAX_CHANGES_PER_BATCH', value: MAX_CHANGES_PER_BATCH, what: 'changes per batch (storage)' },
  ],
});

/** A page limit in a query string: 1 to the largest page. */
const pageLimitSchema = queryCountSchema.pipe(z.number().min(1).max(MAX_PAGE_SIZE));

export const changesQuarantine = defineSyncRoute({
  name: 'changes.quarantine',
  method: 'GET',
  path: '/v1/changes/quarantine',
  summary: "Lists the calling device's quarantined changes, oldest first, in pages.",
  auth: 'device-token',
  query: z.strictObject({ after: queryCountSchema.optional(), limit: pageLimitSchema.optional() }),
  answer: z.strictObject({
    // The calling device's own changes: its id is not repeated.
    changes: z.array(quarantinedChangeSchema.omit({ deviceId: true })),
    hasMore: z.boolean(),
    cursor: countSchema,
  }),
  limits: [
    { name: 'MAX_PAGE_SIZE', value: MAX_PAGE_SIZE, what: 'largest limit' },
    { name: 'DEFAULT_PULL_LIMIT', value: DEFAULT_PULL_LIMIT, what: 'limit when none is named' },
  ],
});

/** A pulled page: changes in server order; `cursor` is what to pass as `after` next. */
export const pulledPageSchema = z.strictObject({
  changes: z.array(storedChangeSchema),
  hasMore: z.boolean(),
  cursor: countSchema,
  // Set when `after` is below the cursor this device had already pulled past (restored from a
  // backup; sync-server/snapshot/behind-horizon.ts): it re-bootstraps from a snapshot. Absent otherwise.
  behindHorizon: z.literal(true).optional(),
});

/**
 * The pulled page with each change read only as an object: a joining device checks each change
 * once, with the narrower change schema (shared/sync/change.ts), and a page of 5,000 changes is
 * not worth parsing twice.
 */
export const pulledPageShapeSchema = pulledPageSchema.extend({
  changes: z.array(z.record(z.string(), z.unknown())),
});

export const changesPull = defineSyncRoute({
  name: 'changes.pull',
  method: 'GET',
  path: '/v1/changes',
  summary: "Pulls the clinic's changes after a cursor, in pages.",
  auth: 'device-token',
  query: z.strictObject({ after: queryCountSchema, limit: pageLimitSchema.optional() }),
  answer: pulledPageSchema,
  answerHeaders: {
    // The page's end in headers too, so a device paging through the log can ask for the next page
    // before it has read and parsed this one; the body stays the authority.
    [PAGE_CURSOR_HEADER]: "the body's `cursor`",
    [PAGE_HAS_MORE_HEADER]: "`1` or `0`: the body's `hasMore`",
  },
  limits: [
    { name: 'MAX_PAGE_SIZE', value: MAX_PAGE_SIZE, what: 'largest limit' },
    { name: 'DEFAULT_PULL_LIMIT', value: DEFAULT_PULL_LIMIT, what: 'limit when none is named' },
  ],
});

/** The change routes, in registration order. */
export const CHANGE_ROUTES = [changesPush, changesQuarantine, changesPull] as const;
