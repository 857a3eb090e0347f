/**
 * Stateless challenges and access tokens, so any server process sharing the master key can
 * check what another issued (no session table, no sticky routing). The one piece of shared
 * state is the set of answered challenge nonces, kept in the storage (UsedChallenges).
 *
 * A challenge is `c1.<base64url payload>.<base64url HMAC>` naming the clinic and device that
 * asked, a random nonce and an expiry. The device signs
 * `"chairside/device-auth/v1\n" ‖ challenge` with its Ed25519 key and trades it for a token.
 * A token is `t1.<base64url payload>.<base64url HMAC>` naming the server key id, the clinic,
 * the device and an expiry; it is the only place an authenticated request's clinic comes from.
 *
 * Payloads are JSON with fixed keys parsed strictly; MACs are compared in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { clinicIdSchema, deviceIdSchema } from '../storage/records.js';
import type { SyncStorage } from '../storage/storage.js';
import type { ServerKeys } from './server-keys.js';
import { ACCESS_TOKEN_TTL_MS, DEVICE_AUTH_DOMAIN } from '../../shared/sync/wire/devices.js';

/** How long a challenge may be answered. */
export const CHALLENGE_TTL_MS = 60_000;
// How long an access token is valid, and the domain tag a device signs before the challenge
// text: both ends need them, declared in shared/sync/wire/devices.ts.
export { ACCESS_TOKEN_TTL_MS as TOKEN_TTL_MS, DEVICE_AUTH_DOMAIN };

const challengePayloadSchema = z.strictObject({
  v: z.literal(1),
  clinicId: clinicIdSchema,
  deviceId: deviceIdSchema,
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  exp: z.number().int().min(0),
});
export type ChallengePayload = z.infer<typeof challengePayloadSchema>;

const tokenPayloadSchema = z.strictObject({
  v: z.literal(1),
  kid: z.string().regex(/^[0-9a-f]{16}$/),
  clinicId: clinicIdSchema,
  deviceId: deviceIdSchema,
  iat: z.number().int().min(0),
  exp: z.number().int().min(0),
});
/** What a valid access token states. */
export type TokenClaims = z.infer<typeof tokenPayloadSchema>;

function mac(key: Buffer, prefix: string, payload: string): string {
  return createHmac('sha256', key).update(`${prefix}.${payload}`).digest('base64url');
}

function seal(key: Buffer, prefix: string, payload: object): string {
  const encoded = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${prefix}.${encoded}.${mac(key, prefix, encoded)}`;
}

/** The payload of a sealed value when its MAC is right, else null. */
function open(key: Buffer, prefix: string, sealed: string): unknown {
  if (sealed.length > 2048) return null;
  const parts = sealed.split('.');
  if (parts.length !== 3 || parts[0] !== prefix) return null;
  const [, encoded, tag] = parts as [string, string, string];
  const expected = Buffer.from(mac(key, prefix, encoded), 'base64url');
  const given = Buffer.from(tag, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    return JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

/** A new challenge for a device of a clinic (no storage is consulted: the answer reveals nothing). */
export function issueChallenge(keys: ServerKeys, clinicId: string, deviceId: string, now: number): string {
  const nonce = randomBytes(16).toString('base64url');
  return seal(keys.challengeKey, 'c1', { v: 1, clinicId, deviceId, nonce, exp: now + CHALLENGE_TTL_MS });
}

/** The challenge's payload when it is genuine, unexpired and for this clinic and device; else null. */
export function openChallenge(
  keys: ServerKeys,
  challenge: string,
  clinicId: string,
  deviceId: string,
  now: number,
): ChallengePayload | null {
  const parsed = challengePayloadSchema.safeParse(open(keys.challengeKey, 'c1', challenge));
  if (!parsed.success) return null;
  const payload = parsed.data;
  if (payload.clinicId !== clinicId || payload.deviceId !== deviceId || now >= payload.exp) return null;
  return payload;
}

/** The bytes a device signs to answer a challenge. */
export function deviceAuthMessage(challenge: string): Uint8Array {
  return new Uint8Array(Buffer.from(DEVICE_AUTH_DOMAIN + challenge, 'utf8'));
}

/** A new access token for a device of a clinic. */
export function issueToken(
  keys: ServerKeys,
  clinicId: string,
  deviceId: string,
  now: number,
): { token: string; expiresAt: number } {
  const expiresAt = now + ACCESS_TOKEN_TTL_MS;
  const claims: TokenClaims = { v: 1, kid: keys.keyId, clinicId, deviceId, iat: now, exp: expiresAt };
  return { token: seal(keys.tokenKey, 't1', claims), expiresAt };
}

/**
 * The claims of a token when it was issued under these keys, is untampered and unexpired; else
 * null (the caller answers one undistinguished 401).
 */
export function verifyToken(keys: ServerKeys, token: string, now: number): TokenClaims | null {
  const parsed = tokenPayloadSchema.safeParse(open(keys.tokenKey, 't1', token));
  if (!parsed.success) return null;
  const claims = parsed.data;
  if (claims.kid !== keys.keyId || now >= claims.exp || claims.iat > now + 60_000) return null;
  return claims;
}

/**
 * Challenges already answered, so a captured answer cannot be traded for a second token. The
 * record lives in the storage (SyncStorage.consumeChallengeNonce), so the rule holds across every
 * server process sharing it, not only in the process that issued the token; a nonce is kept
 * until its challenge expires, after which the challenge is refused by its expiry anyway.
 */
export class UsedChallenges {
  constructor(private readonly storage: Pick<SyncStorage, 'consumeChallengeNonce'>) {}

  /** Records the nonce; false when it was already used (here or by another process) or has expired. */
  use(nonce: string, expiresAt: number): Promise<boolean> {
    return this.storage.consumeChallengeNonce(nonce, expiresAt);
  }
}
