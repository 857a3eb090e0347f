/**
 * Device enrollment and authentication:
 * - `POST /v1/enroll` redeems a one-time code and registers the device's Ed25519 public key;
 * - `POST /v1/auth/challenge` hands out a stateless, signed, short-lived challenge;
 * - `POST /v1/auth/token` trades the device's signature over the challenge for an access token;
 * - `POST /v1/devices/enrollment-codes` lets an enrolled device make a one-time code for another
 *   device of its clinic, on behalf of a user the server's user directory knows as an Admin.
 *
 * A device names its clinic when it asks for a challenge: device ids are made by devices and are
 * unique only within a clinic. That is a claim the signature then proves, not an authorization
 * input; every later request takes its clinic from the token alone. Every failure of these
 * routes is counted by the brute-force limits (auth/rate-limits.ts: against the address, and for
 * tokens the device named, never the clinic), and each answers one undistinguished error.
 */
import type { FastifyPluginAsync } from 'fastify';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import {
  DEFAULT_ENROLLMENT_CODE_TTL_MS,
  authChallenge,
  authToken,
  devicesCreateEnrollmentCode,
  devicesEnroll,
  enrollmentCodeProofClaims,
} from '../../shared/sync/wire/devices.js';
import { USER_PROOF_WINDOW_MS, userProofText } from '../../shared/sync/user-signing.js';
import { ed25519TextVerifier } from '../sync/batch-signature.js';
import { verifyEd25519 } from '../auth/server-keys.js';
import { deviceAuthMessage, issueChallenge, issueToken, openChallenge } from '../auth/tokens.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { type ClinicStore, DuplicateDeviceError, EnrollmentCodeError, UnknownClinicError } from '../storage/storage.js';
import { clinicLogOrigin } from './audit-log.js';
import { SyncHttpError } from './errors.js';
import { type SyncServerContext, defineRoute } from './route-context.js';

const AUTH_REFUSED = 'The device could not be authenticated.';

const verifyProof = ed25519TextVerifier();

/** Why an Admin's proof for an enrollment code is refused, or null (none needed for an Admin made before keys). */
function enrollmentProofRefusal(
  signingKey: string | null,
  body: { userId: string; ttlMs?: number | undefined; proof?: { issuedAt: number; signature: string } | undefined },
  clinicId: string,
  deviceId: string,
  nowMs: number,
): string | null {
  if (signingKey === null) return null;
  if (!body.proof) return 'proof-missing';
  if (Math.abs(nowMs - body.proof.issuedAt) > USER_PROOF_WINDOW_MS) return 'proof-expired';
  const text = userProofText(
    enrollmentCodeProofClaims(clinicId, deviceId, body.userId, body.proof.issuedAt, body.ttlMs),
  );
  return verifyProof(signingKey, text, body.proof.signature) ? null : 'proof-invalid';
}

/** The devices plugin. */
export function deviceRoutes(context: SyncServerContext): FastifyPluginAsync {
  return async (app) => {
    defineRoute(app, context, devicesEnroll, async ({ request, body }) => {
      // A failure is reserved before the code is tried, so a burst of guesses gets no more tries than the budget.
      const attempt = await context.rateLimits.beginAttempt(request.ip);
      try {
        const enrolled = await context.storage.redeemEnrollmentCode({
          code: body.code,
          deviceId: body.deviceId,
          name: body.deviceName,
          publicKey: body.publicKey,
        });
        await attempt.succeeded();
        request.log.info(
          { event: 'device.enrolled', clinicId: enrolled.clinicId, deviceId: enrolled.device.deviceId },
          'device enrolled',
        );
        // The clinic's name lets a device joining a clinic (setup.joinClinic) name it locally.
        const clinic = await (await context.storage.clinic(enrolled.clinicId)).getClinic();
        return {
          clinicId: enrolled.clinicId,
          clinicName: clinic.name,
          deviceId: enrolled.device.deviceId,
          // Devices other than number 1 allocate patient numbers in their own space.
          deviceNumber: enrolled.device.deviceNumber,
          protocolVersion: context.protocolVersion,
          checkpoint: {
            origin: clinicLogOrigin(enrolled.clinicId),
            verifierKey: formatEd25519VerifierKey(
              nodeSha256,
              context.keys.checkpointKeyName,
              context.keys.checkpointPublicKey,
            ),
          },
        };
      } catch (error) {
        if (error instanceof EnrollmentCodeError) {
          await attempt.failed();
          request.log.warn({ event: 'device.enroll_refused', reason: error.reason }, 'enrollment refused');
          throw new SyncHttpError('ENROLLMENT_REFUSED', 'The enrollment code is not valid.');
        }
        if (error instanceof DuplicateDeviceError) {
          throw new SyncHttpError('CONFLICT', 'This device id is already enrolled; the device needs a new id.');
        }
        throw error;
      } finally {
        await attempt.release();
      }
    });

    defineRoute(app, context, authChallenge, async ({ request, body }) => {
      await context.rateLimits.admit(request.ip);
      // Storage is not consulted: a challenge for a clinic or device that does not exist looks
      // the same, so this route says nothing about which exist.
      const challenge = issueChallenge(context.keys, body.clinicId, body.deviceId, context.clock.now());
      return { challenge };
    });

    defineRoute(app, context, authToken, async ({ request, body }) => {
      // Reserved before any work: concurrent answers from one address are each counted as a
      // failure until proven otherwise, so no more than the budget are ever evaluated.
      const attempt = await context.rateLimits.beginAttempt(request.ip);
      const refuse = async (reason: string): Promise<never> => {
        await attempt.failed();
        // The device named is charged only now, after its signature failed: a flood naming a
        // device can slow the flood's answers, never the device's own valid signature.
        const limited = await context.rateLimits.deviceFailed(body.clinicId, body.deviceId);
        request.log.warn({ event: 'auth.token_refused', reason, deviceLimited: limited !== null }, 'token refused');
        throw limited ?? new SyncHttpError('UNAUTHENTICATED', AUTH_REFUSED);
      };
      try {
        const now = context.clock.now();
        const challenge = openChallenge(context.keys, body.challenge, body.clinicId, body.deviceId, now);
        if (!challenge) return await refuse('challenge');
        let store: ClinicStore;
        try {
          store = await context.storage.clinic(body.clinicId);
        } catch (error) {
          if (error instanceof UnknownClinicError) return await refuse('unknown');
          throw error;
        }
        const device = await store.getDevice(body.deviceId);
        if (!device) return await refuse('unknown');
        if (!verifyEd25519(device.publicKey, deviceAuthMessage(body.challenge), body.signature)) {
          return await refuse('signature');
        }
        if (!(await context.usedChallenges.use(challenge.nonce, challenge.exp))) return await refuse('replayed');
        // The key holder proved itself: the reserved failure goes back.
        await attempt.succeeded();
        if (device.revokedAt !== null) {
          // The signature proved the key holder: telling it that it is revoked lets it lock itself.
          await store.appendSecurityEvent({
            kind: 'device.revoked_request',
            deviceId: device.deviceId,
            userId: null,
            details: { route: '/v1/auth/token' },
          });
          throw new SyncHttpError('DEVICE_REVOKED', 'This device was revoked; it must be enrolled again.');
        }
        const { token, expiresAt } = issueToken(context.keys, body.clinicId, body.deviceId, now);
        request.log.info({ event: 'auth.token_issued', clinicId: body.clinicId, deviceId: body.deviceId }, 'token');
        return { token, expiresAt };
      } finally {
        await attempt.release();
      }
    });

    defineRoute(app, context, devicesCreateEnrollmentCode, async ({ request, body, auth }) => {
      // The clinic comes from the token alone; the user must be an Admin in the server's own
      // directory (learned from accepted user changes), not merely claimed by the device.
      const directory = await auth.store.readUserDirectory([body.userId]);
      const user = directory.users.find((entry) => entry.userId === body.userId);
      // And the Admin must prove the request is theirs, with their signing key, once they have
      // one: a device acts for a user only with what the user's password opens (issue #11).
      const refusal = !user
        ? 'unknown-user'
        : user.role !== 'Admin'
          ? 'role'
          : enrollmentProofRefusal(
              user.signingKey,
              body,
              auth.claims.clinicId,
              auth.device.deviceId,
              context.clock.now(),
            );
      if (refusal !== null) {
        await auth.store.appendSecurityEvent({
          kind: 'device.enrollment_code_refused',
          deviceId: auth.device.deviceId,
          userId: body.userId,
          details: { reason: refusal },
        });
        request.log.warn(
          { event: 'device.enrollment_code_refused', clinicId: auth.claims.clinicId, deviceId: auth.device.deviceId },
          'enrollment code refused',
        );
        throw new SyncHttpError('FORBIDDEN', 'Only an Admin of this clinic can make an enrollment code.');
      }
      const created = await auth.store.createEnrollmentCode({
        ttlMs: body.ttlMs ?? DEFAULT_ENROLLMENT_CODE_TTL_MS,
        createdBy: body.userId,
      });
      request.log.info(
        { event: 'device.enrollment_code_created', clinicId: auth.claims.clinicId, deviceId: auth.device.deviceId },
        'enrollment code created',
      );
      return { code: created.code, expiresAt: created.record.expiresAt };
    });
  };
}
