/**
 * How the database key is stored: only wrapped (encrypted) by a key-encryption key, never in
 * plaintext. The key file on disk crosses a trust boundary, so it is parsed with zod.
 */
import { z } from 'zod';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

/** AES-256-GCM output. */
const sealedSchema = z.strictObject({ iv: base64, tag: base64, ciphertext: base64 });
export type Sealed = z.infer<typeof sealedSchema>;

export const wrappedKeySchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('passphrase'),
    // The cost travels in the file, so it is bounded: a damaged or planted keys.json must not make
    // unlock allocate gigabytes or spin for minutes. 1 GiB is 8x the default (N=2^17, r=8).
    kdf: z
      .strictObject({
        name: z.literal('scrypt'),
        salt: base64,
        N: z
          .number()
          .int()
          .min(1024)
          .max(2 ** 20)
          .refine((n) => (n & (n - 1)) === 0, 'N must be a power of two'),
        r: z.number().int().min(1).max(32),
        p: z.number().int().min(1).max(16),
      })
      .refine((kdf) => 128 * kdf.N * kdf.r <= 2 ** 30, 'scrypt memory above 1 GiB'),
    sealed: sealedSchema,
  }),
  z.strictObject({
    kind: z.literal('recovery'),
    kdf: z.strictObject({ name: z.literal('hkdf-sha256'), salt: base64 }),
    sealed: sealedSchema,
  }),
  z.strictObject({
    kind: z.literal('os-keystore'),
    /** The keystore backend at wrap time (Linux: gnome_libsecret, kwallet...); a change forces a fallback. */
    backend: z.string(),
    ciphertext: base64,
  }),
]);
export type WrappedKey = z.infer<typeof wrappedKeySchema>;

/** Thrown when a wrapping cannot be opened: wrong passphrase or recovery key, or a damaged file. */
export class KeyUnwrapError extends Error {
  override readonly name = 'KeyUnwrapError';
}

/** Wraps and unwraps the 32-byte database key. One implementation per way of protecting it. */
export interface KeyProvider {
  readonly kind: WrappedKey['kind'];
  wrap(key: Buffer, databaseId: string): Promise<WrappedKey>;
  unwrap(wrapped: WrappedKey, databaseId: string): Promise<Buffer>;
}

/** Additional authenticated data: binds a wrapping to its kind and to this one database. */
export function wrappingAad(kind: WrappedKey['kind'], databaseId: string): Buffer {
  return Buffer.from(`chairside-db-key/v1|${kind}|${databaseId}`, 'utf8');
}
