/**
 * Replication: `POST /v1/changes` pushes the changes of one or more local transactions (one
 * batch each, applied atomically and idempotently by change id), `GET /v1/changes` pulls the
 * clinic's changes after a cursor, in pages. The clinic is the token's; a batch's device is the
 * token's device.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import {
  ChangeConflictError,
  DeviceRevokedError,
  InvalidInputError,
  MAX_PAGE_SIZE,
  UnknownDeviceError,
  changeInputSchema,
  recordIdSchema,
} from '../storage/storage.js';
import { SyncHttpError } from './errors.js';
import { type SyncServerContext, defineRoute, queryCountSchema } from './route-context.js';

/** Most batches (local transactions) in one push. */
export const MAX_BATCHES_PER_PUSH = 100;
/** Most changes in one push, over all its batches. */
export const MAX_CHANGES_PER_PUSH = 5000;
/** Page size of a pull that names none. */
export const DEFAULT_PULL_LIMIT = 500;

const pushBodySchema = z
  .strictObject({
    protocolVersion: z.number().int().min(1),
    batches: z
      .array(z.strictObject({ txId: recordIdSchema, changes: z.array(changeInputSchema).min(1) }))
      .min(1)
      .max(MAX_BATCHES_PER_PUSH),
  })
  .refine(
    (body) => body.batches.reduce((sum, batch) => sum + batch.changes.length, 0) <= MAX_CHANGES_PER_PUSH,
    'too many changes in one push',
  );

const pullQuerySchema = z.strictObject({
  after: queryCountSchema,
  limit: queryCountSchema.pipe(z.number().min(1).max(MAX_PAGE_SIZE)).optional(),
});

/** The sync plugin. */
export function changeRoutes(context: SyncServerContext): FastifyPluginAsync {
  return async (app) => {
    defineRoute(app, context, {
      method: 'POST',
      url: '/v1/changes',
      summary: 'Pushes the changes of local transactions, one atomic, idempotent batch each.',
      authenticated: true,
      // Offline work is never stranded: an outdated client's pushes are still accepted.
      allowOutdated: true,
      body: pushBodySchema,
      async handler({ request, body, auth, protocol }) {
        if (String(body.protocolVersion) !== request.headers['chairside-protocol']) {
          throw new SyncHttpError('VALIDATION_FAILED', 'The body and the header name different protocol versions.');
        }
        const results = [];
        // Batches are separate transactions, applied in order; a refused batch stops the push and
        // the ones before it stay applied (a re-push is idempotent).
        for (const [index, batch] of body.batches.entries()) {
          try {
            const result = await auth.store.appendChanges({
              deviceId: auth.device.deviceId,
              txId: batch.txId,
              changes: batch.changes,
            });
            results.push({ txId: batch.txId, changes: result.changes });
          } catch (error) {
            if (error instanceof InvalidInputError) {
              throw new SyncHttpError(
                'VALIDATION_FAILED',
                `Batch ${index} is not valid; batches before it were applied.`,
              );
            }
            if (error instanceof ChangeConflictError) {
              throw new SyncHttpError(
                'CONFLICT',
                `Batch ${index} reuses a change id with other content; batches before it were applied.`,
              );
            }
            if (error instanceof DeviceRevokedError || error instanceof UnknownDeviceError) {
              throw new SyncHttpError('DEVICE_REVOKED', 'This device was revoked; it must be enrolled again.');
            }
            throw error;
          }
        }
        return { batches: results, clientOutdated: protocol === 'outdated' };
      },
    });

    defineRoute(app, context, {
      method: 'GET',
      url: '/v1/changes',
      summary: "Pulls the clinic's changes after a cursor, in pages.",
      authenticated: true,
      query: pullQuerySchema,
      async handler({ query, auth }) {
        const page = await auth.store.pullChanges({ after: query.after, limit: query.limit ?? DEFAULT_PULL_LIMIT });
        return { changes: page.changes, hasMore: page.hasMore, cursor: page.cursor };
      },
    });
  };
}
