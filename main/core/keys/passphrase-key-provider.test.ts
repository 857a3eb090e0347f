import { describe, expect, it } from 'vitest';
import { TEST_SCRYPT } from '../../../test/support/clinic-fixture.js';
import { cryptoRandom, seededRandom } from '../platform/sources.js';
import { passphraseKeyProvider } from './passphrase-key-provider.js';
import { recoveryKeyProvider } from './recovery-key.js';
import { KeyUnwrapError, type Sealed, type WrappedKey } from './wrapped-key.js';

const PASSPHRASE = 'a long enough passphrase';
const DATABASE_ID = '01JGZX0000DATABASE000000001';

const provider = (passphrase = PASSPHRASE) => passphraseKeyProvider(passphrase, cryptoRandom, TEST_SCRYPT);

/** A fresh database key wrapped by the passphrase; returns both. */
async function wrappedKey(): Promise<{ key: Buffer; wrapped: Extract<WrappedKey, { kind: 'passphrase' }> }> {
  const key = cryptoRandom.bytes(32);
  const wrapped = await provider().wrap(key, DATABASE_ID);
  if (wrapped.kind !== 'passphrase') throw new Error('expected a passphrase wrapping');
  return { key, wrapped };
}

/** The base64 text with its first bit flipped. */
function flipFirstBit(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[0] = bytes[0]! ^ 0x01;
  return bytes.toString('base64');
}

describe('passphraseKeyProvider', () => {
  it('unwraps the key it wrapped', async () => {
    const { key, wrapped } = await wrappedKey();
    expect(await provider().unwrap(wrapped, DATABASE_ID)).toEqual(key);
  });

  it('stores neither the key nor the passphrase in the wrapping', async () => {
    const { key, wrapped } = await wrappedKey();
    const text = JSON.stringify(wrapped);
    expect(text).not.toContain(PASSPHRASE);
    expect(text).not.toContain(key.toString('base64'));
    expect(text).not.toContain(key.toString('hex'));
  });

  it('records the scrypt cost it used beside the wrapping', async () => {
    const { wrapped } = await wrappedKey();
    expect(wrapped.kdf).toMatchObject({ name: 'scrypt', ...TEST_SCRYPT });
  });

  it('refuses another passphrase with a clear message', async () => {
    const { wrapped } = await wrappedKey();
    const unwrapping = provider('another long passphrase').unwrap(wrapped, DATABASE_ID);
    await expect(unwrapping).rejects.toThrow(KeyUnwrapError);
    await expect(unwrapping).rejects.toThrow('The database passphrase is incorrect.');
  });

  it.each(['iv', 'tag', 'ciphertext'] as const)('refuses a wrapping whose %s was altered', async (field) => {
    const { wrapped } = await wrappedKey();
    const sealed: Sealed = { ...wrapped.sealed, [field]: flipFirstBit(wrapped.sealed[field]) };
    await expect(provider().unwrap({ ...wrapped, sealed }, DATABASE_ID)).rejects.toThrow(KeyUnwrapError);
  });

  it('refuses a wrapping whose salt was altered', async () => {
    const { wrapped } = await wrappedKey();
    const kdf = { ...wrapped.kdf, salt: flipFirstBit(wrapped.kdf.salt) };
    await expect(provider().unwrap({ ...wrapped, kdf }, DATABASE_ID)).rejects.toThrow(KeyUnwrapError);
  });

  it('refuses a wrapping whose authentication tag was truncated', async () => {
    const { wrapped } = await wrappedKey();
    const tag = Buffer.from(wrapped.sealed.tag, 'base64').subarray(0, 4).toString('base64');
    const sealed: Sealed = { ...wrapped.sealed, tag };
    await expect(provider().unwrap({ ...wrapped, sealed }, DATABASE_ID)).rejects.toThrow(KeyUnwrapError);
  });

  it('refuses a wrapping made for another database', async () => {
    const { wrapped } = await wrappedKey();
    await expect(provider().unwrap(wrapped, '01JGZX0000DATABASE000000002')).rejects.toThrow(KeyUnwrapError);
  });

  it('refuses a wrapping of another kind', async () => {
    const recovery = recoveryKeyProvider('A'.repeat(52), seededRandom('recovery'));
    const wrapped = await recovery.wrap(cryptoRandom.bytes(32), DATABASE_ID);
    await expect(provider().unwrap(wrapped, DATABASE_ID)).rejects.toThrow('This key is not protected by a passphrase.');
  });

  it('refuses a passphrase shorter than ten characters', () => {
    expect(() => provider('nine char')).toThrow('The database passphrase must have at least 10 characters.');
  });

  it('counts characters, not UTF-16 units, toward the minimum length', () => {
    // Five emoji are ten UTF-16 units but five characters.
    expect(() => provider('🦷🦷🦷🦷🦷')).toThrow(KeyUnwrapError);
  });

  it('accepts a passphrase of exactly ten characters', async () => {
    const key = cryptoRandom.bytes(32);
    const tenChars = passphraseKeyProvider('ten chars!', cryptoRandom, TEST_SCRYPT);
    expect(await tenChars.unwrap(await tenChars.wrap(key, DATABASE_ID), DATABASE_ID)).toEqual(key);
  });

  it('treats composed and decomposed accents in a passphrase as the same passphrase', async () => {
    const key = cryptoRandom.bytes(32);
    const composed = passphraseKeyProvider('Crème brûlée 2026', cryptoRandom, TEST_SCRYPT);
    const decomposed = passphraseKeyProvider('Crème brûlée 2026'.normalize('NFD'), cryptoRandom, TEST_SCRYPT);
    expect(await decomposed.unwrap(await composed.wrap(key, DATABASE_ID), DATABASE_ID)).toEqual(key);
  });
});
