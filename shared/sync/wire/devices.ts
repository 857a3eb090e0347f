/**
 * Device enrollment and authentication routes. A device names its clinic when it asks for a
 * challenge (device ids are unique only within a clinic); every later request takes its clinic
 * from the access token alone.
 */
import { z } from 'zod';
import {
  MAX_ENROLLMENT_CODE_TTL_MS,
  base64BytesSchema,
  clinicIdSchema,
  deviceIdSchema,
  recordIdSchema,
  timeMsSchema,
} from './records.js';
import { base64Of } from '../entities/user-signing-key.js';
import { defineSyncRoute } from './route.js';
import type { UserProofClaims } from '../user-signing.js';

/** How long an access token is valid; a device reuses one for at most half of it. */
export const ACCESS_TOKEN_TTL_MS = 10 * 60_000;

/** The domain tag of the message a device signs to answer a challenge: the tag, then the challenge. */
export const DEVICE_AUTH_DOMAIN = 'chairside/device-auth/v1\n';

/** The text a device signs (UTF-8) to answer a challenge. */
export function deviceAuthText(challenge: string): string {
  return DEVICE_AUTH_DOMAIN + challenge;
}

/** The checkpoint origin and verifier key a device pins at enrollment (main/core/sync/checkpoint-pin.ts). */
export const enrollCheckpointSchema = z.strictObject({
  origin: z.string().min(1).max(200),
  verifierKey: z.string().min(1).max(300),
});
export type EnrollCheckpoint = z.infer<typeof enrollCheckpointSchema>;

export const devicesEnroll = defineSyncRoute({
  name: 'devices.enroll',
  method: 'POST',
  path: '/v1/enroll',
  summary: "Redeems a one-time enrollment code and registers the device's Ed25519 public key.",
  auth: 'none',
  body: z.strictObject({
    code: z.string().min(1).max(100),
    deviceId: deviceIdSchema,
    deviceName: z.string().trim().min(1).max(100),
    publicKey: base64BytesSchema(32),
  }),
  answer: z.strictObject({
    clinicId: clinicIdSchema,
    // Servers before setup.joinClinic do not name the clinic.
    clinicName: z.string().min(1).max(200).optional(),
    deviceId: deviceIdSchema,
    // Devices other than number 1 allocate patient numbers in their own space; a device refuses
    // to enroll without one.
    deviceNumber: z.number().int().min(1).max(1_000_000),
    protocolVersion: z.number().int().min(1),
    // Servers before the audit routes name no checkpoint: the device pins on first contact.
    checkpoint: enrollCheckpointSchema.optional(),
  }),
});

export const authChallenge = defineSyncRoute({
  name: 'auth.challenge',
  method: 'POST',
  path: '/v1/auth/challenge',
  summary: 'A signed, short-lived challenge for a device to sign.',
  auth: 'none',
  allowOutdated: true,
  body: z.strictObject({ clinicId: clinicIdSchema, deviceId: deviceIdSchema }),
  answer: z.strictObject({ challenge: z.string().min(1).max(1024) }),
});

export const authToken = defineSyncRoute({
  name: 'auth.token',
  method: 'POST',
  path: '/v1/auth/token',
  summary: "Trades the device's signature over a challenge for a 10-minute access token.",
  auth: 'none',
  allowOutdated: true,
  body: z.strictObject({
    clinicId: clinicIdSchema,
    deviceId: deviceIdSchema,
    challenge: z.string().min(1).max(1024),
    signature: base64BytesSchema(64),
  }),
  answer: z.strictObject({ token: z.string().min(1).max(2048), expiresAt: timeMsSchema }),
  limits: [{ name: 'ACCESS_TOKEN_TTL_MS', value: ACCESS_TOKEN_TTL_MS, what: 'token lifetime (ms)' }],
});

/** How long a code made by a device stays valid unless the request asks for less. */
export const DEFAULT_ENROLLMENT_CODE_TTL_MS = 24 * 60 * 60 * 1000;

export const devicesCreateEnrollmentCode = defineSyncRoute({
  name: 'devices.createEnrollmentCode',
  method: 'POST',
  path: '/v1/devices/enrollment-codes',
  summary: "Makes a one-time, expiring enrollment code for another device of the token's clinic (Admins only).",
  auth: 'device-token',
  body: z.strictObject({
    /** The user the device acts for; the server's user directory must know them as an Admin. */
    userId: recordIdSchema,
    ttlMs: z.number().int().min(60_000).max(MAX_ENROLLMENT_CODE_TTL_MS).optional(),
    /**
     * The user's signature of `userProofText` (shared/sync/user-signing.ts) for this request, made
     * within USER_PROOF_WINDOW_MS of the server's time; required once the user has a signing key.
     */
    proof: z.strictObject({ issuedAt: timeMsSchema, signature: base64Of(64) }).optional(),
  }),
  answer: z.strictObject({ code: z.string().min(1).max(100), expiresAt: timeMsSchema }),
  limits: [
    { name: 'DEFAULT_ENROLLMENT_CODE_TTL_MS', value: DEFAULT_ENROLLMENT_CODE_TTL_MS, what: 'ttlMs when none is named' },
    { name: 'MAX_ENROLLMENT_CODE_TTL_MS', value: MAX_ENROLLMENT_CODE_TTL_MS, what: 'longest ttlMs' },
  ],
});

/** What a user's proof for an enrollment code claims (`userProofText`); the clinic comes from the token. */
export function enrollmentCodeProofClaims(
  clinicId: string,
  deviceId: string,
  userId: string,
  issuedAt: number,
  ttlMs: number | undefined,
): UserProofClaims {
  return {
    route: devicesCreateEnrollmentCode.name,
    clinicId,
    deviceId,
    userId,
    issuedAt,
    request: { ttlMs: ttlMs ?? null },
  };
}

/** The device routes, in registration order. */
export const DEVICE_ROUTES = [devicesEnroll, authChallenge, authToken, devicesCreateEnrollmentCode] as const;
