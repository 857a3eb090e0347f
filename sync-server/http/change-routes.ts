/**
 * Replication: `POST /v1/changes` pushes the changes of one or more local transactions (one
 * batch each, applied atomically and idempotently by change id), `GET /v1/changes` pulls the
 * clinic's changes after a cursor, in pages. The clinic is the token's; a batch's device is the
 * token's device.
 *
 * Every pushed batch is re-validated (sync/validate-batch.ts) and is then accepted, quarantined
 * as a whole (acknowledged with reasons, never in the change log, listed by
 * `GET /v1/changes/quarantine`), or held back for a clock ahead of the server's (`retry`). The
 * envelope (ids, the token's device, the batch's transaction) is still checked as a request: a
 * push that breaks it is a client bug and is refused with 400, storing nothing of that batch.
 */
import type { FastifyPluginAsync } from 'fastify';
import { PAGE_CURSOR_HEADER, PAGE_HAS_MORE_HEADER } from '../../shared/sync/page-headers.js';
import {
  DEFAULT_PULL_LIMIT,
  changesPull,
  changesPush,
  changesQuarantine,
  pushBodySchemaOf,
} from '../../shared/sync/wire/changes.js';
import { PROTOCOL_HEADER } from '../../shared/sync/wire/protocol.js';
import { ChangeConflictError, DeviceRevokedError, InvalidInputError, UnknownDeviceError } from '../storage/storage.js';
import { parsedChangeSchema } from '../storage/parsed-changes.js';
import type { LiveChannel } from '../live/live-channel.js';
import { type BatchOutcome, type StartedBatch, startBatch } from '../sync/push-batch.js';
import { preverifyBatches } from '../sync/preverify.js';
import { PushReads } from '../sync/push-reads.js';
import { pullsBehindItsCursor } from '../snapshot/behind-horizon.js';
import { SyncHttpError } from './errors.js';
import { type SyncServerContext, defineRoute } from './route-context.js';

/** The declared push body around changes remembered as parsed: storage does not parse them again. */
const parsedPushBodySchema = pushBodySchemaOf(parsedChangeSchema);

/** The error answer for a storage refusal of batch `index`; anything else is rethrown as it is. */
function refusalOf(error: unknown, index: number): unknown {
  if (error instanceof InvalidInputError) {
    return new SyncHttpError('VALIDATION_FAILED', `Batch ${index} is not valid; batches before it were applied.`);
  }
  if (error instanceof ChangeConflictError) {
    return new SyncHttpError(
      'CONFLICT',
      `Batch ${index} reuses a change id with other content; batches before it were applied.`,
    );
  }
  if (error instanceof DeviceRevokedError || error instanceof UnknownDeviceError) {
    return new SyncHttpError('DEVICE_REVOKED', 'This device was revoked; it must be enrolled again.');
  }
  return error;
}

/** The sync plugin. */
export function changeRoutes(context: SyncServerContext, live: LiveChannel): FastifyPluginAsync {
  return async (app) => {
    defineRoute(
      app,
      context,
      changesPush,
      async ({ request, body, auth, protocol }) => {
        if (String(body.protocolVersion) !== request.headers[PROTOCOL_HEADER]) {
          throw new SyncHttpError('VALIDATION_FAILED', 'The body and the header name different protocol versions.');
        }
        // One lookup of the quarantine and the user directory for the whole push (push-reads.ts).
        const reads = new PushReads(
          auth.store,
          auth.device.deviceId,
          auth.device.deviceNumber,
          body.batches.flatMap((batch) => batch.changes.map((change) => change.changeId)),
          body.batches.flatMap((batch) => [
            ...batch.changes.map((change) => change.userId),
            ...(batch.signedBy ? [batch.signedBy] : []),
          ]),
        );
        // Batches are separate transactions, applied in order; a refused batch stops the push and
        // the ones before it stay applied (a re-push is idempotent). A quarantined batch does not
        // stop it: it is answered, and the batches behind it go on. An accepted batch that changes
        // no role is not waited for: its append is submitted and the next batch decided meanwhile,
        // so the storage commits a run of them in one transaction (group commit); each is answered,
        // in batch order, once it committed.
        // Every batch signature of the push is verified at once on the worker pool, meanwhile the
        // event loop serves other requests; deciding the batches then reads the verdicts.
        const verify = await preverifyBatches(context.signatures, body.batches, (ids) => reads.directory(ids));
        const results: BatchOutcome[] = [];
        const pending: Array<{ index: number; outcome: Promise<BatchOutcome> }> = [];
        const pendingIds = new Set<string>();
        // Patients registered by batches still being appended: a later batch that touches one
        // waits for them, so the registration check reads them from the log.
        const pendingPatients = new Set<string>();
        const answered = (outcome: BatchOutcome) => {
          if (outcome.status !== 'accepted') {
            request.log.info({ event: 'sync.batch_held', status: outcome.status }, 'batch not accepted');
          } else if (outcome.changes.some((change) => change.inserted)) {
            // The append has committed: live streams of every process may now announce it.
            const latestSeq = Math.max(...outcome.changes.map((change) => change.serverSeq));
            void live.changesCommitted(auth.store.clinicId, latestSeq);
          }
          results.push(outcome);
        };
        const settle = async () => {
          for (const { index, outcome } of pending.splice(0)) {
            try {
              answered(await outcome);
            } catch (error) {
              throw refusalOf(error, index);
            }
          }
          pendingIds.clear();
          pendingPatients.clear();
        };
        for (const [index, batch] of body.batches.entries()) {
          const stray = batch.changes.some(
            (change) => change.deviceId !== auth.device.deviceId || change.txId !== batch.txId,
          );
          const ids = new Set(batch.changes.map((change) => change.changeId));
          if (stray || ids.size !== batch.changes.length) {
            await settle();
            throw new SyncHttpError(
              'VALIDATION_FAILED',
              `Batch ${index} is not valid; batches before it were applied.`,
            );
          }
          // A batch repeating a change id still being appended waits for it, so it sees it stored;
          // so does one touching a patient a batch still being appended registers.
          if (batch.changes.some((change) => pendingIds.has(change.changeId) || pendingPatients.has(change.rowId))) {
            await settle();
          }
          let started: StartedBatch;
          try {
            started = await startBatch(
              auth.store,
              auth.device.deviceId,
              batch.txId,
              batch.changes,
              context.clock.now(),
              context.maxClockAheadMs,
              reads,
              true,
              { signature: batch.signature, signedBy: batch.signedBy },
              verify,
            );
          } catch (error) {
            await settle();
            throw refusalOf(error, index);
          }
          if ('pending' in started) {
            // Awaited by settle, in order; until then a refusal must not count as unhandled.
            started.pending.catch(() => undefined);
            pending.push({ index, outcome: started.pending });
            for (const id of ids) pendingIds.add(id);
            for (const change of batch.changes) {
              if (change.entity === 'patient' && change.op === 'insert') pendingPatients.add(change.rowId);
            }
            continue;
          }
          await settle();
          for (const reason of started.effects.securityReasons) {
            await auth.store.appendSecurityEvent({
              kind: 'sync.change_quarantined',
              deviceId: auth.device.deviceId,
              userId: null,
              details: { reason, txId: batch.txId },
            });
          }
          answered(started.outcome);
        }
        await settle();
        return { batches: results, clientOutdated: protocol === 'outdated' };
      },
      { body: parsedPushBodySchema },
    );

    defineRoute(app, context, changesQuarantine, async ({ query, auth }) => {
      const page = await auth.store.listQuarantinedChanges({
        deviceId: auth.device.deviceId,
        after: query.after ?? 0,
        limit: query.limit ?? DEFAULT_PULL_LIMIT,
      });
      const changes = page.changes.map((change) => ({
        quarantineSeq: change.quarantineSeq,
        changeId: change.changeId,
        txId: change.txId,
        userId: change.userId,
        entity: change.entity,
        rowId: change.rowId,
        op: change.op,
        hlc: change.hlc,
        reason: change.reason,
        detail: change.detail,
        quarantinedAt: change.quarantinedAt,
      }));
      return { changes, hasMore: page.hasMore, cursor: page.cursor };
    });

    defineRoute(app, context, changesPull, async ({ query, auth, reply }) => {
      // The device has applied everything up to `after`: compaction's horizon (change-compaction.ts),
      // recorded with the read.
      const page = await auth.store.pullChangesForDevice(auth.device.deviceId, {
        after: query.after,
        limit: query.limit ?? DEFAULT_PULL_LIMIT,
      });
      // A device gone back behind its own cursor (restored from a backup) re-bootstraps from a snapshot.
      const behindHorizon = pullsBehindItsCursor(page.pulledBefore, query.after);
      // The page's end in headers too, so a device paging through the log can ask for the next
      // page before it has read and parsed this one (docs/sync-protocol.md, "Pull").
      reply.header(PAGE_CURSOR_HEADER, String(page.cursor));
      reply.header(PAGE_HAS_MORE_HEADER, page.hasMore ? '1' : '0');
      return {
        changes: page.changes,
        hasMore: page.hasMore,
        cursor: page.cursor,
        ...(behindHorizon ? { behindHorizon: true as const } : {}),
      };
    });
  };
}
