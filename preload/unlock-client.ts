/**
 * The unlock prompt's side of its two IPC channels (main/electron/unlock-prompt.ts): read what
 * main asks for, send the form, learn whether to close or ask again. ipcRenderer is passed in,
 * so this runs under test with a recording stand-in; preload/unlock.ts wires it to the page.
 */

/** IPC channels of the prompt; main/electron/unlock-prompt.ts uses the same names. */
export const IPC_UNLOCK_STATE = 'chairside:unlock-state';
export const IPC_UNLOCK_SUBMIT = 'chairside:unlock-submit';

export type UnlockMode = 'unlock' | 'create' | 'recover';

/** What main asks for. */
export interface UnlockRequest {
  readonly mode: UnlockMode;
  readonly recoverNeedsPassphrase: boolean;
  readonly message: string | null;
}

/** What the form sends. */
export type UnlockAnswer =
  | { readonly mode: 'unlock'; readonly passphrase: string }
  | { readonly mode: 'create'; readonly passphrase: string; readonly confirm: string }
  | { readonly mode: 'recover'; readonly recoveryKey: string; readonly passphrase: string; readonly confirm: string };

/** Main's reply to a submission. */
export type SubmitReply = { readonly done: true } | { readonly done: false; readonly request: UnlockRequest };

/** The form's fields as typed. */
export interface UnlockFields {
  readonly recoveryKey: string;
  readonly passphrase: string;
  readonly confirm: string;
}

/** The parts of ipcRenderer the prompt uses. */
export interface UnlockIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
}

const MODES: ReadonlySet<string> = new Set(['unlock', 'create', 'recover']);

/** A request from main, checked field by field; null for anything else. */
export function parseRequest(value: unknown): UnlockRequest | null {
  if (typeof value !== 'object' || value === null) return null;
  const { mode, recoverNeedsPassphrase, message } = value as Record<string, unknown>;
  if (typeof mode !== 'string' || !MODES.has(mode) || typeof recoverNeedsPassphrase !== 'boolean') return null;
  if (message !== null && typeof message !== 'string') return null;
  return { mode: mode as UnlockMode, recoverNeedsPassphrase, message };
}

/** The answer for a mode from the form's fields: only the fields that mode uses. */
export function answerFor(mode: UnlockMode, fields: UnlockFields): UnlockAnswer {
  if (mode === 'unlock') return { mode, passphrase: fields.passphrase };
  if (mode === 'create') return { mode, passphrase: fields.passphrase, confirm: fields.confirm };
  return { mode, recoveryKey: fields.recoveryKey, passphrase: fields.passphrase, confirm: fields.confirm };
}

/** The prompt's client. */
export function createUnlockClient(ipc: UnlockIpc) {
  return {
    /** What main asks for now; null when it asks nothing. */
    async state(): Promise<UnlockRequest | null> {
      return parseRequest(await ipc.invoke(IPC_UNLOCK_STATE));
    },
    /** Sends an answer and resolves once main tried it. */
    async submit(answer: UnlockAnswer): Promise<SubmitReply> {
      const reply = (await ipc.invoke(IPC_UNLOCK_SUBMIT, answer)) as { done?: unknown; request?: unknown } | null;
      if (reply?.done === true) return { done: true };
      const request = parseRequest(reply?.request);
      if (request === null) throw new Error('unexpected reply from main');
      return { done: false, request };
    },
  };
}
