/**
 * The consolidated audit log:
 * - `POST /v1/audit` pushes a segment of the device's own hash chain with its signed head. The
 *   server checks every hash and link of the segment (shared/audit-chain.ts), the device's
 *   Ed25519 signature over (device, epoch, seq, head), and then the storage checks the segment
 *   continues the stored chain (no gap, fork or rollback). A refusal is recorded as a security
 *   event of the clinic. Accepted entries become leaves of the clinic's Merkle log and a new
 *   checkpoint is signed.
 * - `GET /v1/audit/checkpoint`, `/v1/audit/proof/inclusion` and `/v1/audit/proof/consistency`
 *   serve the signed tree head and RFC 9162 proofs.
 * - `POST /v1/audit/pinned`: a device reports the highest checkpoint it pinned, and its refusal
 *   of the log when it refused it. A refusal, or a pin signed by this server that is not a prefix
 *   of the log it holds now (its tail was cut off in the database, issue #11 finding 5), is
 *   recorded as a security event: the server itself cannot remember what was deleted from its
 *   storage, but the devices' pins can.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { chainHash } from '../../shared/audit-chain.js';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { verifyCheckpoint } from '../../shared/merkle/checkpoint.js';
import { ed25519NoteVerifier } from '../../shared/merkle/signed-note.js';
import {
  type CheckpointAnswer,
  auditCheckpoint,
  auditConsistencyProof,
  auditHeadText,
  auditInclusionProof,
  auditPush,
  auditReportPinned,
} from '../../shared/sync/wire/audit.js';
import { verifyEd25519 } from '../auth/server-keys.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { AuditChainRejectedError, type CheckpointRecord, InvalidInputError } from '../storage/storage.js';
import { clinicLogOrigin } from './audit-log.js';
import { SyncHttpError } from './errors.js';
import { type AuthenticatedDevice, type SyncServerContext, defineRoute } from './route-context.js';

/** The bytes a device signs for the head of a pushed segment (shared/sync/wire/audit.ts `auditHeadText`). */
export function auditHeadMessage(deviceId: string, epoch: number, seq: number, head: string): Uint8Array {
  return new Uint8Array(Buffer.from(auditHeadText(deviceId, epoch, seq, head), 'utf8'));
}

type AuditPush = z.output<NonNullable<typeof auditPush.body>>;

/** Why a pushed segment was refused, as recorded in the security event. */
type AuditRefusal = 'edited' | 'gap' | 'fork' | 'rollback' | 'signature' | 'foreign_device';

/** The first break inside the segment itself, or null when every hash and link holds. */
function segmentBreak(push: AuditPush): { reason: AuditRefusal; seq: number } | null {
  let previous: { seq: number; hash: string } | null = null;
  for (const entry of push.entries) {
    if (previous !== null) {
      if (entry.seq !== previous.seq + 1)
        return { reason: entry.seq > previous.seq + 1 ? 'gap' : 'fork', seq: entry.seq };
      if (entry.prevHash !== previous.hash) return { reason: 'fork', seq: entry.seq };
    }
    if (chainHash(nodeSha256, entry.prevHash, entry.body) !== entry.hash) return { reason: 'edited', seq: entry.seq };
    previous = entry;
  }
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

function checkpointAnswer(checkpoint: CheckpointRecord): CheckpointAnswer {
  return { size: checkpoint.size, rootHash: encodeBase64(checkpoint.rootHash), note: checkpoint.note };
}

/** The audit plugin. */
export function auditRoutes(context: SyncServerContext): FastifyPluginAsync {
  async function refuse(
    request: FastifyRequest,
    auth: AuthenticatedDevice,
    push: AuditPush,
    reason: AuditRefusal,
    seq: number,
  ): Promise<never> {
    await auth.store.appendSecurityEvent({
      kind: 'audit.chain_rejected',
      deviceId: auth.device.deviceId,
      userId: null,
      details: { reason, epoch: push.epoch, seq },
    });
    request.log.warn({ event: 'audit.chain_rejected', reason, epoch: push.epoch, seq }, 'audit push refused');
    if (reason === 'signature') {
      throw new SyncHttpError('AUDIT_SIGNATURE_INVALID', 'The signature over the chain head does not verify.');
    }
    if (reason === 'foreign_device') {
      throw new SyncHttpError('FORBIDDEN', 'A device pushes only its own audit chain.');
    }
    throw new SyncHttpError('AUDIT_CHAIN_REJECTED', `The audit chain was refused at sequence ${seq} (${reason}).`);
  }

  return async (app) => {
    defineRoute(app, context, auditPush, async ({ request, body, auth, protocol }) => {
      if (body.deviceId !== auth.device.deviceId) return refuse(request, auth, body, 'foreign_device', 0);
      const broken = segmentBreak(body);
      if (broken) return refuse(request, auth, body, broken.reason, broken.seq);
      const last = body.entries[body.entries.length - 1]!;
      const signed = auditHeadMessage(body.deviceId, body.epoch, last.seq, last.hash);
      if (!verifyEd25519(auth.device.publicKey, signed, body.signature)) {
        return refuse(request, auth, body, 'signature', last.seq);
      }
      let appended;
      try {
        appended = await auth.store.appendAuditEntries({
          deviceId: body.deviceId,
          epoch: body.epoch,
          entries: body.entries,
        });
      } catch (error) {
        if (error instanceof AuditChainRejectedError) return refuse(request, auth, body, error.kind, error.seq);
        if (error instanceof InvalidInputError) {
          throw new SyncHttpError('VALIDATION_FAILED', 'An entry body does not match its device, epoch or sequence.');
        }
        throw error;
      }
      const checkpoint = await context.auditLogs.checkpoint(auth.store);
      return {
        appended: appended.appended.length,
        duplicates: appended.duplicates,
        head: appended.head,
        leafIndexes: appended.appended.map((entry) => entry.leafIndex),
        checkpoint: checkpointAnswer(checkpoint),
        clientOutdated: protocol === 'outdated',
      };
    });

    defineRoute(app, context, auditCheckpoint, async ({ auth }) => {
      return checkpointAnswer(await context.auditLogs.checkpoint(auth.store));
    });

    defineRoute(app, context, auditInclusionProof, async ({ auth, query }) => {
      return context.auditLogs.withLog(auth.store, async (log) => {
        if (query.size > log.size || query.index >= query.size) {
          throw new SyncHttpError('NOT_FOUND', 'The log has no such leaf at that size.');
        }
        return {
          index: query.index,
          size: query.size,
          leafHash: encodeBase64(log.leafHash(query.index)),
          proof: log.inclusionProof(query.index, query.size).map(encodeBase64),
        };
      });
    });

    defineRoute(app, context, auditReportPinned, async ({ request, auth, body }) => {
      const verifier = ed25519NoteVerifier(
        context.keys.checkpointKeyName,
        context.keys.checkpointPublicKey,
        (message, signature, publicKey) => verifyEd25519(publicKey, message, signature),
        nodeSha256,
      );
      // Only a note this server signed is evidence; a pin it cannot verify is reported, not compared.
      const opened =
        body.pinned === null
          ? null
          : verifyCheckpoint(body.pinned, [verifier], { origin: clinicLogOrigin(auth.store.clinicId) });
      const pinned = opened?.ok ? opened.checkpoint : null;
      const { logSize, consistent } = await context.auditLogs.withLog(auth.store, async (log) => ({
        logSize: log.size,
        consistent: pinned !== null && pinned.size <= log.size && sameBytes(log.root(pinned.size), pinned.rootHash),
      }));
      const recorded = body.refusal !== null || (pinned !== null && !consistent);
      if (recorded) {
        const kind = body.refusal !== null ? 'audit.log_refused_by_device' : 'audit.pin_beyond_log';
        await auth.store.appendSecurityEvent({
          kind,
          deviceId: auth.device.deviceId,
          userId: null,
          details: {
            reason: body.refusal,
            refusedSize: body.refusedSize,
            pinnedSize: pinned?.size ?? null,
            pinVerified: pinned !== null,
            logSize,
            consistent,
          },
        });
        request.log.error(
          { event: kind, reason: body.refusal, pinnedSize: pinned?.size ?? null, logSize, consistent },
          'a device holds a checkpoint the audit log no longer extends',
        );
      }
      return { logSize, consistent, recorded };
    });

    defineRoute(app, context, auditConsistencyProof, async ({ auth, query }) => {
      return context.auditLogs.withLog(auth.store, async (log) => {
        if (query.to > log.size || query.from > query.to) {
          throw new SyncHttpError('NOT_FOUND', 'The log has no such sizes.');
        }
        return {
          from: query.from,
          to: query.to,
          proof: log.consistencyProof(query.from, query.to).map(encodeBase64),
        };
      });
    });
  };
}
