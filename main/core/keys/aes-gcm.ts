/** AES-256-GCM sealing of small secrets with node:crypto (no hand-written crypto). */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { RandomSource } from '../platform/sources.js';
import { KeyUnwrapError, type Sealed } from './wrapped-key.js';

const IV_BYTES = 12;
// Without an explicit length, node accepts a tag cut to 4 bytes, so a forger needs only 2^32 tries.
const TAG_BYTES = 16;

/** Encrypts and authenticates plaintext under a 32-byte key. */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer, random: RandomSource): Sealed {
  const iv = random.bytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

/** Decrypts sealed data; throws KeyUnwrapError when the key is wrong or the data was altered. */
export function open(key: Buffer, sealed: Sealed, aad: Buffer, message: string): Buffer {
  try {
    const iv = Buffer.from(sealed.iv, 'base64');
    const tag = Buffer.from(sealed.tag, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('bad iv or tag length');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new KeyUnwrapError(message);
  }
}
