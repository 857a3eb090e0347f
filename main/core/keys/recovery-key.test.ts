import { describe, expect, it } from 'vitest';
import { cryptoRandom, seededRandom } from '../platform/sources.js';
import { generateRecoveryKey, parseRecoveryKey, recoveryKeyProvider } from './recovery-key.js';
import { KeyUnwrapError } from './wrapped-key.js';

const DATABASE_ID = '01JGZX0000DATABASE000000001';

/** The error fn throws (fails the test when it does not throw). */
function errorFrom(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('generateRecoveryKey', () => {
  it('shows 32 random bytes as 13 groups of four base32 characters', () => {
    expect(generateRecoveryKey(seededRandom('recovery-format'))).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){12}$/);
  });

  it('gives a different key each time', () => {
    expect(generateRecoveryKey(cryptoRandom)).not.toBe(generateRecoveryKey(cryptoRandom));
  });
});

describe('parseRecoveryKey', () => {
  const recoveryKey = generateRecoveryKey(seededRandom('recovery-parse'));

  it('reads back the bytes the key was generated from', () => {
    expect(parseRecoveryKey(recoveryKey)).toEqual(seededRandom('recovery-parse').bytes(32));
  });

  it('accepts the key typed in lower case with spaces instead of dashes', () => {
    const typed = ` ${recoveryKey.toLowerCase().replace(/-/g, ' ')} `;
    expect(parseRecoveryKey(typed)).toEqual(parseRecoveryKey(recoveryKey));
  });

  it('accepts the key typed without any separators', () => {
    expect(parseRecoveryKey(recoveryKey.replace(/-/g, ''))).toEqual(parseRecoveryKey(recoveryKey));
  });

  it.each([
    ['an empty string', ''],
    ['a word', 'password123'],
    ['a key with a group missing', recoveryKey.slice(0, -5)],
    ['a key with a group too many', `${recoveryKey}-ABCD`],
    ['a key with a digit outside base32', `0${recoveryKey.slice(1)}`],
    ['a key with punctuation', `${recoveryKey.slice(0, -1)}!`],
  ])('rejects %s with a message saying what a recovery key looks like', (_label, typed) => {
    const error = errorFrom(() => parseRecoveryKey(typed));
    expect(error).toBeInstanceOf(KeyUnwrapError);
    expect((error as Error).message).toBe(
      'That is not a recovery key: expect 52 letters and digits in groups of four.',
    );
  });
});

describe('recoveryKeyProvider', () => {
  const recoveryKey = generateRecoveryKey(seededRandom('recovery-provider'));

  it('unwraps the key it wrapped', async () => {
    const key = cryptoRandom.bytes(32);
    const provider = recoveryKeyProvider(recoveryKey, cryptoRandom);
    expect(await provider.unwrap(await provider.wrap(key, DATABASE_ID), DATABASE_ID)).toEqual(key);
  });

  it('unwraps with the key as the admin typed it back from paper', async () => {
    const key = cryptoRandom.bytes(32);
    const wrapped = await recoveryKeyProvider(recoveryKey, cryptoRandom).wrap(key, DATABASE_ID);
    const typed = recoveryKeyProvider(recoveryKey.toLowerCase().replace(/-/g, ' '), cryptoRandom);
    expect(await typed.unwrap(wrapped, DATABASE_ID)).toEqual(key);
  });

  it('refuses another recovery key with a clear message', async () => {
    const wrapped = await recoveryKeyProvider(recoveryKey, cryptoRandom).wrap(cryptoRandom.bytes(32), DATABASE_ID);
    const other = recoveryKeyProvider(generateRecoveryKey(cryptoRandom), cryptoRandom);
    const unwrapping = other.unwrap(wrapped, DATABASE_ID);
    await expect(unwrapping).rejects.toBeInstanceOf(KeyUnwrapError);
    await expect(unwrapping).rejects.toThrow('The recovery key is incorrect.');
  });

  it('refuses a wrapping made for another database', async () => {
    const provider = recoveryKeyProvider(recoveryKey, cryptoRandom);
    const wrapped = await provider.wrap(cryptoRandom.bytes(32), DATABASE_ID);
    await expect(provider.unwrap(wrapped, '01JGZX0000DATABASE000000002')).rejects.toThrow(KeyUnwrapError);
  });
});
