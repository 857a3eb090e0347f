import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_SCRYPT, tempDataDir } from '../../../test/support/clinic-fixture.js';
import { cryptoRandom } from '../platform/sources.js';
import { type KeyFile, readKeyFile, writeKeyFile } from './key-file.js';
import { passphraseKeyProvider } from './passphrase-key-provider.js';
import { generateRecoveryKey, recoveryKeyProvider } from './recovery-key.js';

const DAMAGED = 'The key file is damaged or not a Chairside key file.';

let temp: ReturnType<typeof tempDataDir>;
let path: string;
let keyFile: KeyFile;

beforeEach(async () => {
  temp = tempDataDir();
  path = join(temp.dir, 'keys.json');
  const key = cryptoRandom.bytes(32);
  const databaseId = '01JGZX0000DATABASE000000001';
  keyFile = {
    format: 'chairside-keys/1',
    databaseId,
    primary: await passphraseKeyProvider('a long enough passphrase', cryptoRandom, TEST_SCRYPT).wrap(key, databaseId),
    recovery: await recoveryKeyProvider(generateRecoveryKey(cryptoRandom), cryptoRandom).wrap(key, databaseId),
  };
});
afterEach(() => temp.remove());

/** Writes raw JSON where the key file goes. */
const writeJson = (value: unknown) => writeFileSync(path, JSON.stringify(value));

describe('readKeyFile', () => {
  it('reads back what writeKeyFile wrote', () => {
    writeKeyFile(path, keyFile);
    expect(readKeyFile(path)).toEqual(keyFile);
  });

  it('rejects a file that is not JSON with a clear message', () => {
    writeFileSync(path, 'this is not json {');
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });

  it('rejects a JSON value that is not a key file', () => {
    writeJson(['chairside-keys/1']);
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });

  it('rejects an unknown top-level field', () => {
    writeJson({ ...keyFile, plaintextKey: 'aGVsbG8=' });
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });

  it('rejects an unknown field inside a wrapping', () => {
    writeJson({ ...keyFile, primary: { ...keyFile.primary, hint: 'my dog' } });
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });

  it('rejects another format version', () => {
    writeJson({ ...keyFile, format: 'chairside-keys/2' });
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });

  it('rejects a wrapping whose ciphertext is not base64', () => {
    const primary = { ...keyFile.primary, sealed: { iv: 'AAAA', tag: 'AAAA', ciphertext: 'not base64!' } };
    writeJson({ ...keyFile, primary });
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });

  it.each([
    ['N beyond 2^20', { N: 2 ** 30 }],
    ['N not a power of two', { N: 3000 }],
    ['memory beyond 1 GiB', { N: 2 ** 20, r: 16 }],
    ['a huge parallelism', { p: 1_000_000 }],
  ])('rejects a scrypt cost that would exhaust the machine (%s)', (_label, cost) => {
    if (keyFile.primary.kind !== 'passphrase') throw new Error('expected a passphrase wrapping');
    writeJson({ ...keyFile, primary: { ...keyFile.primary, kdf: { ...keyFile.primary.kdf, ...cost } } });
    expect(() => readKeyFile(path)).toThrow(DAMAGED);
  });
});

describe('writeKeyFile', () => {
  it('leaves no temporary file behind', () => {
    writeKeyFile(path, keyFile);
    expect(readdirSync(temp.dir)).toEqual(['keys.json']);
  });

  it.skipIf(process.platform === 'win32')('makes the file readable by its owner only (mode 0600)', () => {
    writeKeyFile(path, keyFile);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it.skipIf(process.platform === 'win32')('gives mode 0600 even when a stale temp file had a wider mode', () => {
    writeFileSync(`${path}.tmp`, 'left by a crash');
    chmodSync(`${path}.tmp`, 0o644);
    writeKeyFile(path, keyFile);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('replaces an existing key file when not exclusive', () => {
    writeKeyFile(path, keyFile);
    const replacement = { ...keyFile, databaseId: '01JGZX0000DATABASE000000002' };
    writeKeyFile(path, replacement);
    expect(readKeyFile(path)).toEqual(replacement);
  });

  it('refuses to replace an existing key file when exclusive', () => {
    writeKeyFile(path, keyFile);
    expect(() => writeKeyFile(path, { ...keyFile, databaseId: 'another' }, true)).toThrow('a key file already exists');
  });

  it('keeps the existing key file intact and leaves no temp file when an exclusive write is refused', () => {
    writeKeyFile(path, keyFile);
    const before = readFileSync(path);
    expect(() => writeKeyFile(path, { ...keyFile, databaseId: 'another' }, true)).toThrow();
    expect(readFileSync(path)).toEqual(before);
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  it('creates the key file when exclusive and none exists', () => {
    writeKeyFile(path, keyFile, true);
    expect(readKeyFile(path)).toEqual(keyFile);
  });
});
