/**
 * One-time enrollment codes: an admin reads one to a new device, which redeems it once to enroll.
 * 20 characters of Crockford base32 (100 random bits), shown in groups of five. A code is
 * never stored: the storage keeps SHA-256 of its normalised form, which is enough to find it
 * and useless for redeeming it. A fast hash is right here because the code has 100 bits of
 * entropy; a password would need a slow one.
 */
import { randomInt } from 'node:crypto';
import { toHex } from '../../shared/hashing.js';
import { nodeSha256 } from './node-crypto.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_LENGTH = 20;
const GROUP = 5;
const HASH_DOMAIN = 'chairside/enrollment-code/v1\n';

/** A new random code, formatted `XXXXX-XXXXX-XXXXX-XXXXX`. */
export function generateEnrollmentCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) {
    if (i > 0 && i % GROUP === 0) code += '-';
    code += ALPHABET[randomInt(ALPHABET.length)]!;
  }
  return code;
}

/**
 * The code as typed, normalised the Crockford way: case, spaces and dashes ignored, I and L read
 * as 1, O as 0. Null when it cannot be a code, so a typo never reaches the database.
 */
export function normaliseEnrollmentCode(typed: string): string | null {
  const compact = typed.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (compact.length !== CODE_LENGTH) return null;
  for (const char of compact) if (!ALPHABET.includes(char)) return null;
  return compact;
}

/** The stored form of a code: hex SHA-256 of a domain tag and the normalised code; null if malformed. */
export function hashEnrollmentCode(typed: string): string | null {
  const normalised = normaliseEnrollmentCode(typed);
  return normalised === null ? null : toHex(nodeSha256(HASH_DOMAIN, normalised));
}
