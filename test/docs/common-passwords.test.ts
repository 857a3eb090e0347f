import { describe, expect, it } from 'vitest';
import { COMMON_PASSWORDS } from '../../shared/common-passwords.js';
import {
  PASSWORD_MAX_BYTES,
  PASSWORD_MIN_LENGTH,
  passwordProblem,
  utf8ByteLength,
} from '../../shared/password-policy.js';

const COMMON_MESSAGE = /one of the most common passwords/;

describe('COMMON_PASSWORDS', () => {
  it('holds exactly 3,000 entries', () => {
    expect(COMMON_PASSWORDS).toHaveLength(3000);
  });

  it('holds no duplicates', () => {
    expect(new Set(COMMON_PASSWORDS).size).toBe(COMMON_PASSWORDS.length);
  });

  it('holds only lower-case, non-empty entries', () => {
    const offending = COMMON_PASSWORDS.filter((entry) => entry.length === 0 || entry !== entry.toLowerCase());
    expect(offending).toEqual([]);
  });

  it('contains the best-known common passwords', () => {
    expect(COMMON_PASSWORDS).toContain('password');
    expect(COMMON_PASSWORDS).toContain('123456');
    expect(COMMON_PASSWORDS).toContain('qwerty');
  });
});

describe('passwordProblem', () => {
  it('refuses a listed password long enough to pass the length rule, with the common-password message', () => {
    const listed = ['1234567890', 'qwertyuiop'].find((candidate) => COMMON_PASSWORDS.includes(candidate));
    expect(listed).toBeDefined();
    expect([...listed!].length).toBeGreaterThanOrEqual(PASSWORD_MIN_LENGTH);
    expect(passwordProblem(listed!, 'asha')).toMatch(COMMON_MESSAGE);
  });

  it('refuses a listed password typed in upper case', () => {
    expect(passwordProblem('QWERTYUIOP', 'asha')).toMatch(COMMON_MESSAGE);
  });

  it('accepts a long random password', () => {
    expect(passwordProblem('vT7#qLm2!xRw9Zp', 'asha')).toBeNull();
  });

  it('refuses a password that contains the username', () => {
    expect(passwordProblem('my-asha.kumar-2026!', 'asha.kumar')).toMatch(/must not contain the username/);
  });

  it('refuses a password longer than 72 UTF-8 bytes with a message', () => {
    const accented = 'é'.repeat(40);
    expect(utf8ByteLength(accented)).toBe(80);
    expect(passwordProblem(accented, 'asha')).toMatch(new RegExp(`at most ${PASSWORD_MAX_BYTES} bytes`));
  });

  it('accepts a password of exactly 72 ASCII bytes', () => {
    const password = 'Tv7-Lm2x'.repeat(9);
    expect(utf8ByteLength(password)).toBe(PASSWORD_MAX_BYTES);
    expect(passwordProblem(password, 'asha')).toBeNull();
  });
});
