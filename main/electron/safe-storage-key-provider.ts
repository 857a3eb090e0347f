/**
 * Wraps the database key with the OS keystore through Electron's safeStorage (DPAPI on Windows,
 * Keychain on macOS, libsecret/kwallet on Linux). Refuses to wrap when the keystore is missing or
 * is Linux's `basic_text` backend (a hard-coded password: plaintext in all but name), and refuses
 * to unwrap when the backend changed since wrapping; the app then asks for the recovery key.
 * The safeStorage object is passed in, so this runs under test with a recording stand-in.
 */
import type { safeStorage } from 'electron';
import { type KeyProvider, KeyUnwrapError, type WrappedKey } from '../core/keys/wrapped-key.js';

/** The part of Electron's safeStorage this provider uses. */
export type SafeStorageLike = Pick<
  typeof safeStorage,
  'isEncryptionAvailable' | 'encryptString' | 'decryptString' | 'getSelectedStorageBackend'
>;

/** The OS keystore cannot protect the key here; use the passphrase or recovery key instead. */
export class KeystoreUnavailableError extends KeyUnwrapError {}

const PLAINTEXT_BACKENDS = new Set(['basic_text', 'unknown']);

function backendOf(storage: SafeStorageLike, platform: NodeJS.Platform): string {
  return platform === 'linux' ? storage.getSelectedStorageBackend() : platform;
}

/**
 * True when the OS keystore can protect the key on this computer: encryption is available and
 * the backend is a real keystore, not Linux's plaintext fallback. Otherwise the app asks for a
 * passphrase instead.
 */
export function isKeystoreUsable(storage: SafeStorageLike, platform: NodeJS.Platform = process.platform): boolean {
  return storage.isEncryptionAvailable() && !PLAINTEXT_BACKENDS.has(backendOf(storage, platform));
}

/** A key provider backed by the OS keystore. */
export function safeStorageKeyProvider(
  storage: SafeStorageLike,
  platform: NodeJS.Platform = process.platform,
): KeyProvider {
  const usableBackend = (): string => {
    if (!storage.isEncryptionAvailable()) {
      throw new KeystoreUnavailableError('The system keystore is not available on this computer.');
    }
    const backend = backendOf(storage, platform);
    if (PLAINTEXT_BACKENDS.has(backend)) {
      throw new KeystoreUnavailableError(
        'The system keystore stores secrets without real encryption here (no keyring service is running).',
      );
    }
    return backend;
  };
  return {
    kind: 'os-keystore',
    async wrap(key, databaseId) {
      const backend = usableBackend();
      // The database id travels inside the ciphertext, binding the wrapping to this one database.
      const ciphertext = storage.encryptString(`${databaseId}:${key.toString('base64')}`);
      return { kind: 'os-keystore', backend, ciphertext: ciphertext.toString('base64') };
    },
    async unwrap(wrapped: WrappedKey, databaseId) {
      if (wrapped.kind !== 'os-keystore') throw new KeyUnwrapError('This key is not protected by the system keystore.');
      const backend = usableBackend();
      if (backend !== wrapped.backend) {
        throw new KeystoreUnavailableError('The system keystore changed since this clinic was set up.');
      }
      let plaintext: string;
      try {
        plaintext = storage.decryptString(Buffer.from(wrapped.ciphertext, 'base64'));
      } catch {
        throw new KeyUnwrapError('The system keystore could not unlock the clinic database.');
      }
      const prefix = `${databaseId}:`;
      if (!plaintext.startsWith(prefix)) throw new KeyUnwrapError('This keystore entry belongs to another database.');
      const key = Buffer.from(plaintext.slice(prefix.length), 'base64');
      if (key.length !== 32) throw new KeyUnwrapError('The system keystore returned a damaged key.');
      return key;
    },
  };
}
