import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyUnwrapError } from '../core/keys/wrapped-key.js';
import { KeystoreUnavailableError, type SafeStorageLike, safeStorageKeyProvider } from './safe-storage-key-provider.js';

/**
 * A recording stand-in for Electron's safeStorage (the Electron binary cannot run on the build
 * machine). It "encrypts" by XOR with a fixed pad, enough to tell that only its output is stored,
 * and records every call.
 */
function recordingSafeStorage(options: { available?: boolean; backend?: string } = {}) {
  const calls: string[] = [];
  const pad = randomBytes(64);
  const xor = (data: Buffer) => Buffer.from(data.map((byte, i) => byte ^ pad[i % pad.length]!));
  const storage: SafeStorageLike & { backend: string } = {
    backend: options.backend ?? 'gnome_libsecret',
    isEncryptionAvailable: () => {
      calls.push('isEncryptionAvailable');
      return options.available ?? true;
    },
    getSelectedStorageBackend() {
      calls.push('getSelectedStorageBackend');
      return this.backend as ReturnType<SafeStorageLike['getSelectedStorageBackend']>;
    },
    encryptString: (text: string) => {
      calls.push('encryptString');
      return xor(Buffer.from(text, 'utf8'));
    },
    decryptString: (data: Buffer) => {
      calls.push('decryptString');
      return xor(data).toString('utf8');
    },
  };
  return { storage, calls };
}

describe('safeStorage key provider', () => {
  it('wraps the key through the keystore and unwraps it again, storing no plaintext key', async () => {
    const { storage, calls } = recordingSafeStorage();
    const provider = safeStorageKeyProvider(storage, 'linux');
    const key = randomBytes(32);
    const wrapped = await provider.wrap(key, 'db-1');
    expect(wrapped).toMatchObject({ kind: 'os-keystore', backend: 'gnome_libsecret' });
    expect(JSON.stringify(wrapped)).not.toContain(key.toString('base64'));
    expect(JSON.stringify(wrapped)).not.toContain(key.toString('hex'));
    expect(await provider.unwrap(wrapped, 'db-1')).toEqual(key);
    expect(calls).toContain('encryptString');
    expect(calls).toContain('decryptString');
  });

  it("refuses Linux's plaintext basic_text backend", async () => {
    const { storage, calls } = recordingSafeStorage({ backend: 'basic_text' });
    await expect(safeStorageKeyProvider(storage, 'linux').wrap(randomBytes(32), 'db')).rejects.toBeInstanceOf(
      KeystoreUnavailableError,
    );
    expect(calls).not.toContain('encryptString');
  });

  it('refuses when the keystore is unavailable', async () => {
    const { storage } = recordingSafeStorage({ available: false });
    await expect(safeStorageKeyProvider(storage, 'win32').wrap(randomBytes(32), 'db')).rejects.toThrow(/not available/);
  });

  it('refuses to unwrap after the keystore backend changed, so the app asks for the recovery key', async () => {
    const { storage } = recordingSafeStorage();
    const provider = safeStorageKeyProvider(storage, 'linux');
    const wrapped = await provider.wrap(randomBytes(32), 'db');
    storage.backend = 'kwallet5';
    await expect(provider.unwrap(wrapped, 'db')).rejects.toThrow(/changed/);
  });

  it('reports a keystore that cannot decrypt as a clear unwrap error', async () => {
    const { storage } = recordingSafeStorage();
    storage.decryptString = () => {
      throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString.');
    };
    const provider = safeStorageKeyProvider(storage, 'darwin');
    const wrapped = await provider.wrap(randomBytes(32), 'db');
    await expect(provider.unwrap(wrapped, 'db')).rejects.toBeInstanceOf(KeyUnwrapError);
  });
});

describe('safeStorage key provider binding', () => {
  it('refuses a wrapping made for another database', async () => {
    const { storage } = recordingSafeStorage();
    const provider = safeStorageKeyProvider(storage, 'linux');
    const wrapped = await provider.wrap(randomBytes(32), 'db-a');
    await expect(provider.unwrap(wrapped, 'db-b')).rejects.toThrow(/another database/);
  });
});
