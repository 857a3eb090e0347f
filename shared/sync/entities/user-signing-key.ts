/**
 * A user's signing key as it replicates (the `signing_key` field of a user, canonical JSON text):
 * the Ed25519 public key, and the private key wrapped (AES-256-GCM) under a key derived with
 * scrypt from the user's password, so only someone who knows the password can sign as the user
 * (docs/sync-protocol.md, "User-signed changes"). Schemas only: the crypto is in
 * shared/sync/user-signing.ts, which the renderer does not load.
 */
import { z } from 'zod';
import { decodeBase64 } from '../../merkle/base64.js';

/** Standard base64 of exactly `length` bytes. */
export function base64Of(length: number) {
  return z.string().refine((text) => {
    try {
      return decodeBase64(text).length === length;
    } catch {
      return false;
    }
  }, `not base64 of ${length} bytes`);
}

/** scrypt's cost parameters, bounded so a replicated key cannot make a device spend minutes or gigabytes. */
export const scryptParamsSchema = z.strictObject({
  N: z
    .number()
    .int()
    .min(2 ** 10)
    .max(2 ** 17)
    .refine((n) => (n & (n - 1)) === 0, 'not a power of two'),
  r: z.number().int().min(1).max(16),
  p: z.number().int().min(1).max(4),
});
export type ScryptParams = z.infer<typeof scryptParamsSchema>;

export const wrappedPrivateKeySchema = z.strictObject({
  kdf: z.literal('scrypt'),
  params: scryptParamsSchema,
  salt: base64Of(16),
  iv: base64Of(12),
  // The PKCS#8 DER of an Ed25519 private key is 48 bytes.
  ciphertext: base64Of(48),
  tag: base64Of(16),
});
export type WrappedPrivateKey = z.infer<typeof wrappedPrivateKeySchema>;

export const userSigningKeySchema = z.strictObject({
  v: z.literal(1),
  publicKey: base64Of(32),
  wrapped: wrappedPrivateKeySchema,
});
export type UserSigningKey = z.infer<typeof userSigningKeySchema>;
