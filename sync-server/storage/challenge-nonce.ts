/**
 * Input of SyncStorage.consumeChallengeNonce, shared by both storages: a challenge's nonce
 * (base64url, as auth/tokens.ts makes them) and the challenge's expiry.
 */
import { z } from 'zod';
import { timeMsSchema } from './records.js';

/** A nonce and the expiry of the challenge that carried it. */
export const challengeNonceInputSchema = z.strictObject({
  nonce: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  expiresAt: timeMsSchema,
});
