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
 * routes is counted by the brute-force limits, and each answers one undistinguished error.
 */
import type { FastifyPluginAsync } from 'fastify';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import {
  DEFAULT_ENROLLMENT_CODE_TTL_MS,
  authChallenge,
  authToken,
  devicesCreateEnrollmentCode,
  devicesEnroll,
} from '../../shared/sync/wire/devices.js';
import { verifyEd25519 } from '../auth/server-keys.js';
import { deviceAuthMessage, issueChallenge, issueToken, openChallenge } from '../auth/tokens.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { type ClinicStore, DuplicateDeviceError, EnrollmentCodeError, UnknownClinicError } from '../storage/storage.js';
import { clinicLogOrigin } from './audit-log.js';
import { SyncHttpError } from './errors.js';
import { type SyncServerContext, defineRoute } from './route-context.js';

const AUTH_REFUSED = 'The device could not be authenticated.';

/** The devices plugin. */
export function deviceRoutes(context: SyncServerContext): FastifyPluginAsync {
  return async (app) => {
    defineRoute(app, context, devicesEnroll, async ({ request, body }) => {
      const address = request.ip;
      await context.rateLimits.admit(address, null);
      try {
        const enrolled = await context.storage.redeemEnrollmentCode({
          code: body.code,
          deviceId: body.deviceId,
          name: body.deviceName,
          publicKey: body.publicKey,
        });
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
          await context.rateLimits.fail(address, null);
          request.log.warn({ event: 'device.enroll_refused', reason: error.reason }, 'enrollment refused');
          throw new SyncHttpError('ENROLLMENT_REFUSED', 'The enrollment code is not valid.');
        }
        if (error instanceof DuplicateDeviceError) {
          throw new SyncHttpError('CONFLICT', 'This device id is already enrolled; the device needs a new id.');
        }
        throw error;
      }
    });

    defineRoute(app, context, authChallenge, async ({ request, body }) => {
      await context.rateLimits.admit(request.ip, body.clinicId);
      // Storage is not consulted: a challenge for a clinic or device that does not exist looks
      // the same, so this route says nothing about which exist.
      const challenge = issueChallenge(context.keys, body.clinicId, body.deviceId, context.clock.now());
      return { challenge };
    });

    defineRoute(app, context, authToken, async ({ request, body }) => {
      const address = request.ip;
      await context.rateLimits.admit(address, body.clinicId);
      const refuse = async (reason: string): Promise<never> => {
        await context.rateLimits.fail(address, body.clinicId);
        request.log.warn({ event: 'auth.token_refused', reason }, 'token refused');
        throw new SyncHttpError('UNAUTHENTICATED', AUTH_REFUSED);
      };
      const now = context.clock.now();
      const challenge = openChallenge(context.keys, body.challenge, body.clinicId, body.deviceId, now);
      if (!challenge) return refuse('challenge');
      let store: ClinicStore;
      try {
        store = await context.storage.clinic(body.clinicId);
      } catch (error) {
        if (error instanceof UnknownClinicError) return refuse('unknown');
        throw error;
      }
      const device = await store.getDevice(body.deviceId);
      if (!device) return refuse('unknown');
      if (!verifyEd25519(device.publicKey, deviceAuthMessage(body.challenge), body.signature)) {
        return refuse('signature');
      }
      if (!(await context.usedChallenges.use(challenge.nonce, challenge.exp))) return refuse('replayed');
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
    });

    defineRoute(app, context, devicesCreateEnrollmentCode, async ({ request, body, auth }) => {
      // The clinic comes from the token alone; the user must be an Admin in the server's own
      // directory (learned from accepted user changes), not merely claimed by the device.
      const directory = await auth.store.readUserDirectory([body.userId]);
      const user = directory.users.find((entry) => entry.userId === body.userId);
      if (!user || user.role !== 'Admin') {
        await auth.store.appendSecurityEvent({
          kind: 'device.enrollment_code_refused',
          deviceId: auth.device.deviceId,
          userId: body.userId,
          details: { reason: user ? 'role' : 'unknown-user' },
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
