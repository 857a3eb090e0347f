/**
 * Sync channels: connect this clinic to a sync server, see the state of sync, run a round now
 * (docs/sync-protocol.md, "Device sync engine").
 */
import { devicesCreateEnrollmentCode } from '../../../shared/api/devices.js';
import { syncConnect, syncNow, syncStatus } from '../../../shared/api/sync.js';
import type { EntityName } from '../../../shared/sync/change.js';
import { ENTITY_NAMES, declarationOf } from '../../../shared/sync/entities.js';
import { ApiError } from '../api/api-error.js';
import { type RunContext, handle } from '../api/handler.js';
import { sessionSigner } from '../api/pipeline.js';
import { storeDeviceNumber } from './device-number.js';
import { recordRowChange, sealTransaction } from './change-recorder.js';
import { readSyncIdentity, syncCounts } from './sync-engine.js';
import { pinCheckpointKey } from './checkpoint-pin.js';
import { SyncRequestError, createEnrollmentCode, enrollDevice, generateDeviceKeys, requestToken } from './sync-http.js';

/** Rows recorded before the clinic connected are queued in local transactions of at most this many changes. */
const SNAPSHOT_CHANGES_PER_TRANSACTION = 500;

/**
 * What exists locally, in the order the server needs it (each entity declaration's upload order:
 * users first, the connecting Admin's own row alone, so the server's user directory learns its
 * founder; then branches, patients and medical histories). A declared author column names the
 * user a row is attributed to when it is not the connecting Admin: a medical history is
 * attributed to whoever last wrote it, so the server's permission check sees the real author.
 */
const UPLOADED: ReadonlyArray<{ entity: EntityName; table: string; key: string; author: string | undefined }> =
  ENTITY_NAMES.filter((entity) => declarationOf(entity).appliedOnDevices)
    .sort((a, b) => declarationOf(a).upload.order - declarationOf(b).upload.order)
    .map((entity) => {
      const { table, key, upload } = declarationOf(entity);
      return { entity, table, key, author: upload.authorColumn };
    });

/**
 * Records an insert for every replicated row that has no change yet (written before change
 * capture, or by clinic setup), so everything recorded before the clinic connected is uploaded.
 */
function queueExistingRows(ctx: RunContext): number {
  const caller = ctx.caller!;
  const pending = (entity: EntityName, table: string, key: string, author: string | undefined) =>
    // Identifiers come from the constant entity declarations, never input.
    ctx.db
      .query<{ id: string; author: string | null }>(
        `SELECT ${key} AS id, ${author ?? 'NULL'} AS author FROM ${table}
         WHERE ${key} NOT IN (SELECT row_id FROM sync_row_clock WHERE entity = ?) ORDER BY rowid`,
      )
      .all([entity]);
  let queued = 0;
  // Every chunk is signed by the connecting Admin, also those kept under another author: the
  // server accepts an Admin's signature on an upload of inserts (docs/sync-protocol.md).
  const contexts: RunContext[] = [];
  const context = (base: RunContext): RunContext => {
    contexts.push(base);
    return base;
  };
  // Each chunk is its own context object, hence its own local transaction (change-recorder keys
  // transaction ids by context): the server takes at most 1000 changes per transaction.
  const users = declarationOf('user');
  const own = pending('user', users.table, users.key, undefined).find((row) => row.id === caller.userId);
  if (own && recordRowChange(context({ ...ctx }), 'user', own.id, undefined)) queued++;
  let chunk: RunContext = { ...ctx };
  let inChunk = 0;
  for (const { entity, table, key, author } of UPLOADED) {
    // One entity per transaction: transactions of user inserts alone are pushed first (see the
    // sync engine's pendingBatches), so the server knows every author before their rows arrive.
    chunk = context({ ...ctx });
    inChunk = 0;
    for (const row of pending(entity, table, key, author)) {
      let target = chunk;
      if (row.author !== null && row.author !== caller.userId) {
        target = context({ ...ctx, caller: { ...caller, userId: row.author } });
      } else if (inChunk === SNAPSHOT_CHANGES_PER_TRANSACTION) {
        chunk = target = context({ ...ctx });
        inChunk = 0;
      }
      if (recordRowChange(target, entity, row.id, undefined)) {
        queued++;
        if (target === chunk) inChunk++;
      }
    }
  }
  const signer = sessionSigner(caller);
  for (const chunkContext of contexts) sealTransaction(chunkContext, signer);
  return queued;
}

/** The API error for a failed call to the sync server (enrollment, join, codes); rethrows anything else. */
export function enrollmentFailure(failure: unknown): ApiError {
  if (!(failure instanceof SyncRequestError)) throw failure;
  switch (failure.code) {
    case 'ENROLLMENT_REFUSED':
      return new ApiError('VALIDATION_FAILED', 'The sync server did not accept this enrollment code.');
    case 'CONFLICT':
      return new ApiError('CONFLICT', 'The sync server already knows this device.');
    case 'RATE_LIMITED':
      return new ApiError('RATE_LIMITED', 'The sync server asks to wait before trying again.', {
        ...(failure.retryAfterMs === null ? {} : { retryAfterMs: failure.retryAfterMs }),
      });
    case 'CLIENT_OUTDATED':
    case 'PROTOCOL_UNSUPPORTED':
      return new ApiError('CONFLICT', 'This app and the sync server speak different protocol versions.');
    default:
      return unreachable(failure);
  }
}

/**
 * SYNC_UNREACHABLE (502) for a server that did not answer or failed (5xx, a proxy in front of a
 * stopped server): the fault is upstream, not in this app, and the words say what to check. An
 * answer that is not the protocol's (a tampered snapshot, another kind of server) stays INTERNAL.
 */
function unreachable(failure: SyncRequestError): ApiError {
  if (failure.code === 'NETWORK') {
    return new ApiError(
      'SYNC_UNREACHABLE',
      'The sync server could not be reached. Check the address and that the server is running, then try again.',
      { auditDetails: { reason: failure.code } },
    );
  }
  if (failure.status !== null && failure.status >= 500) {
    return new ApiError(
      'SYNC_UNREACHABLE',
      'The sync server is not working right now (it answered with an error). Try again later, or ask whoever runs it.',
      { auditDetails: { reason: failure.code } },
    );
  }
  return new ApiError('INTERNAL', 'The sync server could not be reached or gave an unexpected answer.', {
    auditDetails: { reason: failure.code },
  });
}

export const syncHandlers = {
  'sync.connect': handle(syncConnect, {
    async prepare(ctx, input) {
      const device = ctx.services.clinic.device;
      if (!ctx.db || !device) throw new ApiError('NOT_SET_UP', 'No clinic has been set up on this device yet.');
      if (readSyncIdentity(ctx.db))
        throw new ApiError('CONFLICT', 'This clinic is already connected to a sync server.');
      const keys = generateDeviceKeys();
      try {
        const enrolled = await enrollDevice(ctx.services.sync.fetch, input.serverUrl, {
          code: input.enrollmentCode,
          deviceId: device.deviceId,
          deviceName: `Chairside ${device.deviceId.slice(-6)}`,
          publicKey: keys.publicKey,
        });
        if (enrolled.deviceNumber !== 1 && ctx.db.query('SELECT 1 FROM patients LIMIT 1').get()) {
          // The patient numbers this clinic already gave (P000001...) are device 1's space, so on
          // a server clinic that already has a device they could collide. A clinic without
          // patients has none, and numbers in its own device's space from now on. Nothing local
          // has changed yet.
          throw new ApiError(
            'CONFLICT',
            'This sync server clinic already has another device, and this clinic already has patients whose numbers could collide. Connect it with a code for a new, empty server clinic.',
            { auditDetails: { deviceNumber: enrolled.deviceNumber } },
          );
        }
        return {
          keys,
          clinicId: enrolled.clinicId,
          deviceId: device.deviceId,
          checkpoint: enrolled.checkpoint,
          deviceNumber: enrolled.deviceNumber,
        };
      } catch (failure) {
        if (failure instanceof ApiError) throw failure;
        throw enrollmentFailure(failure);
      }
    },
    run(ctx, input, prepared) {
      if (readSyncIdentity(ctx.db))
        throw new ApiError('CONFLICT', 'This clinic is already connected to a sync server.');
      ctx.db
        .command(
          `INSERT INTO sync_identity (server_url, server_clinic_id, device_id, private_key, public_key, connected_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run([
          input.serverUrl,
          prepared.clinicId,
          prepared.deviceId,
          prepared.keys.privateKey,
          prepared.keys.publicKey,
          ctx.now,
        ]);
      pinCheckpointKey(ctx.db, prepared.checkpoint, ctx.now);
      storeDeviceNumber(ctx.db, prepared.deviceNumber);
      const queued = queueExistingRows(ctx);
      ctx.audit.details.queued = queued;
      return { serverClinicId: prepared.clinicId, deviceId: prepared.deviceId, queued };
    },
  }),

  'devices.createEnrollmentCode': handle(devicesCreateEnrollmentCode, {
    // The network work happens here; run only records the action (never the code).
    async prepare(ctx) {
      const caller = ctx.caller!;
      if (!ctx.db || !readSyncIdentity(ctx.db)) {
        throw new ApiError('CONFLICT', 'This clinic is not connected to a sync server.');
      }
      // Push first: the server checks the Admin in its user directory, which learns users from
      // the changes this device uploads (the founder's row is queued by sync.connect).
      await ctx.services.sync.runRound({ userId: caller.userId, role: caller.role });
      const identity = readSyncIdentity(ctx.db)!;
      try {
        const { token } = await requestToken(ctx.services.sync.fetch, identity.serverUrl, identity);
        return await createEnrollmentCode(
          ctx.services.sync.fetch,
          identity.serverUrl,
          token,
          { userId: caller.userId, signer: caller.session.signer },
          identity,
          ctx.services.sources.clock.now(),
        );
      } catch (failure) {
        if (failure instanceof SyncRequestError && failure.code === 'FORBIDDEN') {
          throw new ApiError('FORBIDDEN', 'The sync server does not know this user as an Admin of the clinic yet.');
        }
        throw enrollmentFailure(failure);
      }
    },
    run(ctx, _input, created) {
      ctx.audit.details.expiresAt = created.expiresAt;
      return created;
    },
  }),

  'sync.status': handle(syncStatus, {
    run(ctx) {
      const identity = readSyncIdentity(ctx.db);
      const counts = syncCounts(ctx.db);
      return {
        connected: identity !== undefined,
        // The last round reached the server and completed.
        online: identity !== undefined && identity.lastSuccessAt !== null && identity.lastError === null,
        serverUrl: identity?.serverUrl ?? null,
        lastSyncAt: identity?.lastSuccessAt ?? null,
        lastAttemptAt: identity?.lastAttemptAt ?? null,
        lastError: identity?.lastError ?? null,
        ...counts,
      };
    },
  }),

  'sync.now': handle(syncNow, {
    // The round runs in prepare: it talks to the server and writes in its own short transactions,
    // as the background engine does; the handler's own transaction only records the call.
    async prepare(ctx) {
      const caller = ctx.caller!;
      return ctx.services.sync.runRound({ userId: caller.userId, role: caller.role });
    },
    run(ctx, _input, round) {
      const { error, connected, ok, ...counts } = round;
      Object.assign(ctx.audit.details, counts, { connected, ok });
      if (error !== null) ctx.audit.details.error = error;
      return round;
    },
  }),
};
