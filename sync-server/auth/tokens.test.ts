import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveServerKeys } from './server-keys.js';
import { CHALLENGE_TTL_MS, TOKEN_TTL_MS, issueChallenge, issueToken, openChallenge, verifyToken } from './tokens.js';

const CLINIC = '7b0f4a8e-3c1d-4e2f-9a6b-5c4d3e2f1a0b';
const OTHER_CLINIC = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const NOW = 1_760_000_000_000;

describe('access tokens', () => {
  const keys = deriveServerKeys(randomBytes(32));

  it('states the clinic and device it was issued for until it expires', () => {
    const { token, expiresAt } = issueToken(keys, CLINIC, 'dev-1', NOW);
    expect(expiresAt).toBe(NOW + TOKEN_TTL_MS);
    expect(verifyToken(keys, token, NOW)).toMatchObject({ clinicId: CLINIC, deviceId: 'dev-1', kid: keys.keyId });
    expect(verifyToken(keys, token, NOW + TOKEN_TTL_MS)).toBeNull();
  });

  it('refuses a token whose payload or MAC was changed', () => {
    const { token } = issueToken(keys, CLINIC, 'dev-1', NOW);
    const [prefix, payload, mac] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const rewritten = Buffer.from(JSON.stringify({ ...claims, clinicId: OTHER_CLINIC })).toString('base64url');
    expect(verifyToken(keys, `${prefix}.${rewritten}.${mac}`, NOW)).toBeNull();
    expect(verifyToken(keys, `${prefix}.${payload}.${mac.slice(0, -2)}AA`, NOW)).toBeNull();
    expect(verifyToken(keys, `c1.${payload}.${mac}`, NOW)).toBeNull();
  });

  it('refuses a token of another master key', () => {
    const other = deriveServerKeys(randomBytes(32));
    expect(verifyToken(keys, issueToken(other, CLINIC, 'dev-1', NOW).token, NOW)).toBeNull();
  });

  it('derives the same keys from the same master key', () => {
    const master = randomBytes(32);
    expect(deriveServerKeys(master).keyId).toBe(deriveServerKeys(master).keyId);
  });
});

describe('challenges', () => {
  const keys = deriveServerKeys(randomBytes(32));

  it('opens only for the clinic and device it names, before it expires', () => {
    const challenge = issueChallenge(keys, CLINIC, 'dev-1', NOW);
    expect(openChallenge(keys, challenge, CLINIC, 'dev-1', NOW)).not.toBeNull();
    expect(openChallenge(keys, challenge, OTHER_CLINIC, 'dev-1', NOW)).toBeNull();
    expect(openChallenge(keys, challenge, CLINIC, 'dev-2', NOW)).toBeNull();
    expect(openChallenge(keys, challenge, CLINIC, 'dev-1', NOW + CHALLENGE_TTL_MS)).toBeNull();
  });
});
