import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, TEST_SCRYPT, tempDataDir } from '../../test/support/clinic-fixture.js';
import { ClinicCore } from '../core/clinic-core.js';
import { clinicPaths, recoverClinicKey } from '../core/clinic-files.js';
import { readKeyFile } from '../core/keys/key-file.js';
import { passphraseKeyProvider } from '../core/keys/passphrase-key-provider.js';
import type { KeyProvider } from '../core/keys/wrapped-key.js';
import { cryptoRandom, testSources } from '../core/platform/sources.js';
import { openClinicCore } from './clinic-unlock.js';
import { type SafeStorageLike, safeStorageKeyProvider } from './safe-storage-key-provider.js';
import type { UnlockAnswer, UnlockRequest } from './unlock-prompt.js';

/**
 * The unlock flow with the real core and key files in a temporary directory. Two stand-ins: a
 * recording stand-in for Electron's safeStorage (XOR with a pad, enough to tell what it wrapped),
 * and a scripted prompt that gives prepared answers and records what it was asked.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function recordingSafeStorage() {
  const pad = randomBytes(64);
  const xor = (data: Buffer) => Buffer.from(data.map((byte, i) => byte ^ pad[i % pad.length]!));
  const storage: SafeStorageLike & { backend: string } = {
    backend: 'gnome_libsecret',
    isEncryptionAvailable: () => true,
    getSelectedStorageBackend() {
      return this.backend as ReturnType<SafeStorageLike['getSelectedStorageBackend']>;
    },
    encryptString: (text) => xor(Buffer.from(text, 'utf8')),
    decryptString: (data) => xor(data).toString('utf8'),
  };
  return storage;
}

function scriptedPrompt(answers: Array<UnlockAnswer | null>) {
  const asked: UnlockRequest[] = [];
  return {
    asked,
    async ask(request: UnlockRequest) {
      asked.push(request);
      if (answers.length === 0) throw new Error(`unexpected question: ${JSON.stringify(request)}`);
      return answers.shift()!;
    },
  };
}

const PASSPHRASE = 'correct horse battery staple';
const NEW_PASSPHRASE = 'a brand new passphrase';
const testPassphrase = (passphrase: string) => passphraseKeyProvider(passphrase, cryptoRandom, TEST_SCRYPT);

function dataDir() {
  const temp = tempDataDir();
  cleanups.push(temp.remove);
  return temp.dir;
}

async function openCore(dir: string, keyProvider: KeyProvider) {
  const core = await ClinicCore.open({ dataDir: dir, keyProvider, sources: testSources('unlock'), bcryptCost: 4 });
  cleanups.push(() => core.close());
  return core;
}

/** Sets up a clinic wrapped by the provider; returns its recovery key. */
async function createClinic(dir: string, keyProvider: KeyProvider): Promise<string> {
  const core = await ClinicCore.open({ dataDir: dir, keyProvider, sources: testSources('setup'), bcryptCost: 4 });
  try {
    const result = await core.invoke(
      'setup.createClinic',
      {
        clinicName: 'Smile Dental',
        branchName: 'Main',
        admin: { username: 'asha', displayName: 'Asha', password: ADMIN_PASSWORD },
      },
      { source: 'test' },
    );
    if (!result.ok) throw new Error(result.error.code);
    return (result.output as { recoveryKey: string }).recoveryKey;
  } finally {
    await core.close();
  }
}

function flow(dir: string, prompt: ReturnType<typeof scriptedPrompt>, keystore: KeyProvider | null) {
  return openClinicCore({
    dataDir: dir,
    keystore,
    passphraseProvider: testPassphrase,
    open: (provider) => openCore(dir, provider),
    recover: (recoveryKey, newPrimary) => recoverClinicKey(dir, recoveryKey, newPrimary, cryptoRandom),
    prompt,
  });
}

async function signsIn(core: ClinicCore | null): Promise<boolean> {
  const result = await core!.invoke('auth.signIn', { username: 'asha', password: ADMIN_PASSWORD }, { source: 'test' });
  return result.ok;
}

describe('opening the clinic in the desktop app', () => {
  it('uses the OS keystore for a new clinic without asking anything', async () => {
    const dir = dataDir();
    const keystore = safeStorageKeyProvider(recordingSafeStorage(), 'linux');
    const prompt = scriptedPrompt([]);
    const core = await flow(dir, prompt, keystore);
    const setup = await core!.invoke(
      'setup.createClinic',
      {
        clinicName: 'Smile Dental',
        branchName: 'Main',
        admin: { username: 'asha', displayName: 'Asha', password: ADMIN_PASSWORD },
      },
      { source: 'test' },
    );
    expect(setup.ok).toBe(true);
    expect(prompt.asked).toEqual([]);
    expect(readKeyFile(clinicPaths(dir).keys).primary).toMatchObject({
      kind: 'os-keystore',
      backend: 'gnome_libsecret',
    });
  });

  it('opens a keystore clinic with the keystore', async () => {
    const dir = dataDir();
    const keystore = safeStorageKeyProvider(recordingSafeStorage(), 'linux');
    await createClinic(dir, keystore);
    const prompt = scriptedPrompt([]);
    expect(await signsIn(await flow(dir, prompt, keystore))).toBe(true);
    expect(prompt.asked).toEqual([]);
  });

  it('asks a new clinic without a keystore for a passphrase typed twice, and protects the key with it', async () => {
    const dir = dataDir();
    const prompt = scriptedPrompt([
      { mode: 'create', passphrase: PASSPHRASE, confirm: 'a different one entirely' },
      { mode: 'create', passphrase: 'short', confirm: 'short' },
      { mode: 'create', passphrase: PASSPHRASE, confirm: PASSPHRASE },
    ]);
    const core = await flow(dir, prompt, null);
    expect(prompt.asked.map((request) => [request.mode, request.message])).toEqual([
      ['create', null],
      ['create', 'The two passphrases differ.'],
      ['create', expect.stringMatching(/at least 10 characters/)],
    ]);
    const setup = await core!.invoke(
      'setup.createClinic',
      {
        clinicName: 'Smile Dental',
        branchName: 'Main',
        admin: { username: 'asha', displayName: 'Asha', password: ADMIN_PASSWORD },
      },
      { source: 'test' },
    );
    expect(setup.ok).toBe(true);
    expect(readKeyFile(clinicPaths(dir).keys).primary.kind).toBe('passphrase');
  });

  it('asks again after a wrong passphrase, then opens with the right one', async () => {
    const dir = dataDir();
    await createClinic(dir, testPassphrase(PASSPHRASE));
    const prompt = scriptedPrompt([
      { mode: 'unlock', passphrase: 'not the passphrase at all' },
      { mode: 'unlock', passphrase: PASSPHRASE },
    ]);
    expect(await signsIn(await flow(dir, prompt, null))).toBe(true);
    expect(prompt.asked[1]).toMatchObject({ mode: 'unlock', message: 'The database passphrase is incorrect.' });
  });

  it('re-wraps a keystore clinic for the new keystore with the recovery key when the keystore changed', async () => {
    const dir = dataDir();
    const storage = recordingSafeStorage();
    const keystore = safeStorageKeyProvider(storage, 'linux');
    const recoveryKey = await createClinic(dir, keystore);
    storage.backend = 'kwallet5';
    const prompt = scriptedPrompt([
      { mode: 'recover', recoveryKey: 'AAAA-BBBB', passphrase: '', confirm: '' },
      { mode: 'recover', recoveryKey, passphrase: '', confirm: '' },
    ]);
    expect(await signsIn(await flow(dir, prompt, keystore))).toBe(true);
    expect(prompt.asked[0]).toMatchObject({
      mode: 'recover',
      recoverNeedsPassphrase: false,
      message: expect.stringMatching(/changed/),
    });
    expect(prompt.asked[1]).toMatchObject({
      mode: 'recover',
      message: expect.stringMatching(/does not open this clinic/),
    });
    expect(readKeyFile(clinicPaths(dir).keys).primary).toMatchObject({ kind: 'os-keystore', backend: 'kwallet5' });
  });

  it('recovers a keystore clinic on a computer without a keystore with a new passphrase', async () => {
    const dir = dataDir();
    const recoveryKey = await createClinic(dir, safeStorageKeyProvider(recordingSafeStorage(), 'linux'));
    const prompt = scriptedPrompt([
      { mode: 'recover', recoveryKey, passphrase: NEW_PASSPHRASE, confirm: NEW_PASSPHRASE },
    ]);
    const core = await flow(dir, prompt, null);
    expect(await signsIn(core)).toBe(true);
    expect(prompt.asked[0]).toMatchObject({ recoverNeedsPassphrase: true });
    await core!.close();
    expect(await signsIn(await openCore(dir, testPassphrase(NEW_PASSPHRASE)))).toBe(true);
  });

  it('lets a person who forgot the passphrase switch to the recovery key', async () => {
    const dir = dataDir();
    const recoveryKey = await createClinic(dir, testPassphrase(PASSPHRASE));
    const prompt = scriptedPrompt([
      { mode: 'recover', recoveryKey, passphrase: NEW_PASSPHRASE, confirm: NEW_PASSPHRASE },
    ]);
    expect(await signsIn(await flow(dir, prompt, null))).toBe(true);
    expect(readKeyFile(clinicPaths(dir).keys).primary.kind).toBe('passphrase');
  });

  it('gives up without changing anything when the person closes the prompt', async () => {
    const dir = dataDir();
    await createClinic(dir, testPassphrase(PASSPHRASE));
    const before = readKeyFile(clinicPaths(dir).keys);
    expect(await flow(dir, scriptedPrompt([null]), null)).toBeNull();
    expect(readKeyFile(clinicPaths(dir).keys)).toEqual(before);
  });

  it('refuses an incomplete data directory without asking', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'keys.json'), '{}');
    const prompt = scriptedPrompt([]);
    await expect(flow(dir, prompt, null)).rejects.toThrow(/incomplete/);
    expect(prompt.asked).toEqual([]);
  });
});
