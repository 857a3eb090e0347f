/**
 * Wraps the database key with a passphrase: scrypt derives a key-encryption key, AES-256-GCM
 * seals the database key. For headless use (servers, the browser host, tests) where no OS
 * keystore exists. scrypt runs on libuv's thread pool, off the event loop.
 */
import { scrypt } from 'node:crypto';
import type { RandomSource } from '../platform/sources.js';
import { open, seal } from './aes-gcm.js';
import { type KeyProvider, KeyUnwrapError, type WrappedKey, wrappingAad } from './wrapped-key.js';

/** scrypt cost: N=2^17, r=8 (128 MiB, OWASP's recommended minimum), p=1. */
export const DEFAULT_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
export const MIN_PASSPHRASE_LENGTH = 10;

function deriveKey(passphrase: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { ...params, maxmem: 256 * params.N * params.r + 32 * 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

/**
 * A passphrase key provider. `scryptCost` exists so tests can run fast; production callers
 * leave it at the default, and the stored parameters always travel with the wrapping.
 */
export function passphraseKeyProvider(
  passphrase: string,
  random: RandomSource,
  scryptCost: { N: number; r: number; p: number } = DEFAULT_SCRYPT,
): KeyProvider {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new KeyUnwrapError(`The database passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters.`);
  }
  return {
    kind: 'passphrase',
    async wrap(key, databaseId) {
      const salt = random.bytes(16);
      const kek = await deriveKey(passphrase, salt, scryptCost);
      try {
        return {
          kind: 'passphrase',
          kdf: { name: 'scrypt', salt: salt.toString('base64'), ...scryptCost },
          sealed: seal(kek, key, wrappingAad('passphrase', databaseId), random),
        };
      } finally {
        kek.fill(0);
      }
    },
    async unwrap(wrapped: WrappedKey, databaseId) {
      if (wrapped.kind !== 'passphrase') throw new KeyUnwrapError('This key is not protected by a passphrase.');
      const { salt, N, r, p } = wrapped.kdf;
      const kek = await deriveKey(passphrase, Buffer.from(salt, 'base64'), { N, r, p });
      try {
        return open(
          kek,
          wrapped.sealed,
          wrappingAad('passphrase', databaseId),
          'The database passphrase is incorrect.',
        );
      } finally {
        kek.fill(0);
      }
    },
  };
}
