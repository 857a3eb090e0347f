/**
 * The admin recovery key: a second wrapping of the database key, created at clinic setup and
 * shown once (printable), so a lost passphrase or a reinstalled OS keystore does not lose the
 * data. The recovery key is 32 random bytes, so HKDF (not a slow KDF) derives the wrapping key.
 */
import { hkdfSync } from 'node:crypto';
import type { RandomSource } from '../platform/sources.js';
import { open, seal } from './aes-gcm.js';
import { type KeyProvider, KeyUnwrapError, wrappingAad } from './wrapped-key.js';

// RFC 4648 base32 alphabet: no 0/1/8/9, easy to read back from paper.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A new recovery key: 32 random bytes shown as 13 groups of 4 base32 characters. */
export function generateRecoveryKey(random: RandomSource): string {
  return formatRecoveryKey(random.bytes(32));
}

function formatRecoveryKey(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let text = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      text += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) text += ALPHABET[(value << (5 - bits)) & 31];
  return text.match(/.{1,4}/g)!.join('-');
}

/** The 32 bytes of a recovery key as typed (case, spaces and dashes ignored). */
export function parseRecoveryKey(typed: string): Buffer {
  const text = typed.toUpperCase().replace(/[\s-]/g, '');
  if (text.length !== 52 || [...text].some((char) => !ALPHABET.includes(char))) {
    throw new KeyUnwrapError('That is not a recovery key: expect 52 letters and digits in groups of four.');
  }
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text) {
    value = ((value << 5) | ALPHABET.indexOf(char)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out.slice(0, 32));
}

/** A key provider that wraps with the recovery key. */
export function recoveryKeyProvider(recoveryKey: string, random: RandomSource): KeyProvider {
  const secret = parseRecoveryKey(recoveryKey);
  const kekFor = (salt: Buffer) => Buffer.from(hkdfSync('sha256', secret, salt, 'chairside-recovery/v1', 32));
  return {
    kind: 'recovery',
    async wrap(key, databaseId) {
      const salt = random.bytes(16);
      return {
        kind: 'recovery',
        kdf: { name: 'hkdf-sha256', salt: salt.toString('base64') },
        sealed: seal(kekFor(salt), key, wrappingAad('recovery', databaseId), random),
      };
    },
    async unwrap(wrapped, databaseId) {
      if (wrapped.kind !== 'recovery') throw new KeyUnwrapError('This key is not protected by a recovery key.');
      return open(
        kekFor(Buffer.from(wrapped.kdf.salt, 'base64')),
        wrapped.sealed,
        wrappingAad('recovery', databaseId),
        'The recovery key is incorrect.',
      );
    },
  };
}
