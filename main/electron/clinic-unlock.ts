/**
 * Opens the clinic with the right key provider, asking the person at the computer only when the
 * OS keystore cannot do it:
 *   - no clinic yet: the keystore when it can protect the key (the new clinic is wrapped by it at
 *     setup); otherwise a passphrase the person chooses, typed twice;
 *   - a clinic protected by the keystore: the keystore; when it cannot unlock any more (another
 *     keyring backend, a reinstalled OS), the recovery key, which re-wraps the key for the
 *     keystore or, without one, for a new passphrase;
 *   - a clinic protected by a passphrase: the passphrase, or the recovery key and a new passphrase.
 * The database key is never stored in plaintext on any path. Everything is passed in, so the
 * flow runs under test with the real core and a scripted prompt.
 */
import { clinicFilesState, clinicPaths } from '../core/clinic-files.js';
import { readKeyFile } from '../core/keys/key-file.js';
import { type KeyProvider, KeyUnwrapError } from '../core/keys/wrapped-key.js';
import type { UnlockAnswer, UnlockPrompt, UnlockRequest } from './unlock-prompt.js';

export interface ClinicUnlockOptions<Core> {
  readonly dataDir: string;
  /** The OS keystore provider when the keystore can protect the key here (isKeystoreUsable), else null. */
  readonly keystore: KeyProvider | null;
  /** A passphrase provider; throws KeyUnwrapError for a passphrase that is too short. */
  passphraseProvider(passphrase: string): KeyProvider;
  /** Opens the core with a provider (ClinicCore.open); a wrong key throws KeyUnwrapError and changes nothing. */
  open(provider: KeyProvider): Promise<Core>;
  /** Re-wraps the database key for a new primary provider with the recovery key (recoverClinicKey). */
  recover(recoveryKey: string, newPrimary: KeyProvider): Promise<void>;
  readonly prompt: Pick<UnlockPrompt, 'ask'>;
}

/** Opens the clinic; null when the person closed the prompt (the app then quits). */
export async function openClinicCore<Core>(options: ClinicUnlockOptions<Core>): Promise<Core | null> {
  const state = clinicFilesState(options.dataDir);
  if (state === 'incomplete') {
    throw new Error(
      `The clinic data in ${options.dataDir} is incomplete (database or key file missing); restore it from a backup.`,
    );
  }
  if (state === 'none') {
    return options.keystore ? options.open(options.keystore) : createWithPassphrase(options);
  }
  const primary = readKeyFile(clinicPaths(options.dataDir).keys).primary.kind;
  if (primary === 'os-keystore') {
    if (!options.keystore) {
      return recoverFlow(options, 'The system keystore is not available on this computer any more.');
    }
    try {
      return await options.open(options.keystore);
    } catch (error) {
      if (!(error instanceof KeyUnwrapError)) throw error;
      return recoverFlow(options, error.message);
    }
  }
  return unlockWithPassphrase(options);
}

/** A new clinic without a usable keystore: the person chooses the passphrase. */
async function createWithPassphrase<Core>(options: ClinicUnlockOptions<Core>): Promise<Core | null> {
  let message: string | null = null;
  for (;;) {
    const answer = await options.prompt.ask(request(options, 'create', message));
    if (answer === null) return null;
    if (answer.mode !== 'create') continue;
    const chosen = newPassphraseProvider(options, answer.passphrase, answer.confirm);
    if (typeof chosen === 'string') {
      message = chosen;
      continue;
    }
    return options.open(chosen);
  }
}

/** An existing clinic protected by a passphrase; the page can switch to recovery. */
async function unlockWithPassphrase<Core>(options: ClinicUnlockOptions<Core>): Promise<Core | null> {
  let message: string | null = null;
  for (;;) {
    const answer = await options.prompt.ask(request(options, 'unlock', message));
    if (answer === null) return null;
    if (answer.mode === 'recover') return recoverWith(options, answer);
    if (answer.mode !== 'unlock') continue;
    try {
      return await options.open(options.passphraseProvider(answer.passphrase));
    } catch (error) {
      if (!(error instanceof KeyUnwrapError)) throw error;
      message = error.message;
    }
  }
}

/** The primary wrapping cannot be opened: the recovery key re-wraps the database key. */
async function recoverFlow<Core>(options: ClinicUnlockOptions<Core>, reason: string): Promise<Core | null> {
  const answer = await options.prompt.ask(
    request(options, 'recover', `${reason} Enter the recovery key printed when the clinic was set up.`),
  );
  return answer === null ? null : recoverWith(options, answer);
}

async function recoverWith<Core>(options: ClinicUnlockOptions<Core>, first: UnlockAnswer): Promise<Core | null> {
  let answer: UnlockAnswer | null = first;
  for (;;) {
    if (answer === null) return null;
    let message: string | null = null;
    if (answer.mode === 'recover') {
      const primary = options.keystore ?? newPassphraseProvider(options, answer.passphrase, answer.confirm);
      if (typeof primary === 'string') {
        message = primary;
      } else {
        try {
          await options.recover(answer.recoveryKey, primary);
          return await options.open(primary);
        } catch (error) {
          if (!(error instanceof KeyUnwrapError)) throw error;
          message = `The recovery key does not open this clinic: ${error.message}`;
        }
      }
    }
    answer = await options.prompt.ask(request(options, 'recover', message));
  }
}

/** A provider for a passphrase typed twice, or why it cannot be used. */
function newPassphraseProvider<Core>(
  options: ClinicUnlockOptions<Core>,
  passphrase: string,
  confirm: string,
): KeyProvider | string {
  if (passphrase !== confirm) return 'The two passphrases differ.';
  try {
    return options.passphraseProvider(passphrase);
  } catch (error) {
    if (error instanceof KeyUnwrapError) return error.message;
    throw error;
  }
}

function request<Core>(
  options: ClinicUnlockOptions<Core>,
  mode: UnlockRequest['mode'],
  message: string | null,
): UnlockRequest {
  return { mode, recoverNeedsPassphrase: options.keystore === null, message };
}
