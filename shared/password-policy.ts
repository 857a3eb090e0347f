/**
 * The password policy, shared so the renderer can explain it before main enforces it.
 * NIST SP 800-63B: length over composition rules, a blocklist of common passwords, no silent
 * truncation. bcrypt reads only the first 72 bytes, so longer input is refused with a clear
 * message rather than pre-hashed (pre-hashing brings its own pitfalls: NUL bytes, shucking).
 */
import { COMMON_PASSWORDS } from './common-passwords.js';

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 128;
/** bcrypt's input limit in bytes. */
export const PASSWORD_MAX_BYTES = 72;

const commonPasswords: ReadonlySet<string> = new Set(COMMON_PASSWORDS);

/** UTF-8 byte length without relying on Node's Buffer or the DOM's TextEncoder. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Returns why a password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, username: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    return `Use at least ${PASSWORD_MIN_LENGTH} characters.`;
  }
  if (utf8ByteLength(password) > PASSWORD_MAX_BYTES) {
    return `Use at most ${PASSWORD_MAX_BYTES} bytes (about ${PASSWORD_MAX_BYTES} letters, fewer with accents or emoji); longer passwords would be cut short.`;
  }
  const lowered = password.toLowerCase();
  const user = username.trim().toLowerCase();
  if (lowered === user || (user.length >= 4 && lowered.includes(user))) {
    return 'The password must not contain the username.';
  }
  if (commonPasswords.has(lowered)) {
    return 'This password is one of the most common passwords; choose another.';
  }
  return null;
}
