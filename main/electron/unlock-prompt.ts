/**
 * The unlock prompt: a small window (app://unlock/) that asks for what the database key needs
 * when the OS keystore cannot provide it: the passphrase of an existing clinic, a new passphrase
 * for a new clinic, or the recovery key. Its preload talks to main on two IPC channels of its
 * own; only the prompt window's main frame, showing the unlock page, is answered, and what it
 * sends is parsed with zod. A submission's reply waits until the answer was tried, so the page
 * learns at once whether to close or what went wrong. Electron's objects are passed in, so this
 * runs under test with a recording stand-in.
 */
import { z } from 'zod';
import { isUnlockUrl } from './app-origin.js';
import type { FrameLike, InvokeEventLike } from './ipc-transport.js';

/** IPC channels of the prompt; preload/unlock-client.ts uses the same names. */
export const IPC_UNLOCK_STATE = 'chairside:unlock-state';
export const IPC_UNLOCK_SUBMIT = 'chairside:unlock-submit';

/** What the prompt asks for. */
export interface UnlockRequest {
  /** unlock: the passphrase of this clinic; create: a new passphrase; recover: the recovery key. */
  readonly mode: 'unlock' | 'create' | 'recover';
  /** A recovery also sets a new passphrase (no usable keystore to protect the key instead). */
  readonly recoverNeedsPassphrase: boolean;
  /** Why the previous answer did not work, in plain words. */
  readonly message: string | null;
}

const secret = z.string().max(1024);

/** What the page may send; anything else is refused. */
export const unlockAnswerSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('unlock'), passphrase: secret }),
  z.strictObject({ mode: z.literal('create'), passphrase: secret, confirm: secret }),
  z.strictObject({ mode: z.literal('recover'), recoveryKey: z.string().max(200), passphrase: secret, confirm: secret }),
]);
export type UnlockAnswer = z.infer<typeof unlockAnswerSchema>;

/** The reply to a submission: close, or ask again. */
export type SubmitReply = { readonly done: true } | { readonly done: false; readonly request: UnlockRequest };

/** Asks the person at the computer; null when they closed the prompt. */
export interface UnlockPrompt {
  ask(request: UnlockRequest): Promise<UnlockAnswer | null>;
  /** The answer worked: the prompt closes. */
  finish(): void;
}

/** The parts of the prompt's BrowserWindow this module uses. */
export interface PromptWindowLike {
  readonly webContents: { readonly id: number; readonly mainFrame: FrameLike; isDestroyed(): boolean };
  isDestroyed(): boolean;
  close(): void;
  once(event: 'closed', listener: () => void): unknown;
}

/** The parts of ipcMain this module uses. */
export interface PromptIpcMain {
  handle(channel: string, listener: (event: InvokeEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface UnlockPromptOptions {
  readonly ipcMain: PromptIpcMain;
  /** Opens the prompt window on app://unlock/ (main.ts); called at the first question. */
  openWindow(): PromptWindowLike;
}

/** Creates the prompt; its window opens only when a question is asked. */
export function createUnlockPrompt(options: UnlockPromptOptions): UnlockPrompt {
  let window: PromptWindowLike | null = null;
  let closedByPerson = false;
  let handlersRegistered = false;
  let question: { request: UnlockRequest; answer(value: UnlockAnswer | null): void } | null = null;
  let reply: ((value: SubmitReply) => void) | null = null;

  /** The prompt window's main frame, showing the unlock page; nothing else is answered. */
  const fromPrompt = (event: InvokeEventLike): boolean => {
    const frame = event.senderFrame;
    if (window === null || window.isDestroyed() || frame === null) return false;
    const contents = window.webContents;
    if (event.sender.id !== contents.id || contents.isDestroyed()) return false;
    const main = contents.mainFrame;
    const isMainFrame =
      frame === main ||
      (frame.parent === null && frame.processId === main.processId && frame.routingId === main.routingId);
    return isMainFrame && isUnlockUrl(frame.url);
  };

  const registerHandlers = (): void => {
    if (handlersRegistered) return;
    handlersRegistered = true;
    options.ipcMain.handle(IPC_UNLOCK_STATE, (event) => {
      if (!fromPrompt(event)) throw new Error('refused: not the unlock prompt');
      return question?.request ?? null;
    });
    options.ipcMain.handle(IPC_UNLOCK_SUBMIT, (event, raw) => {
      if (!fromPrompt(event)) throw new Error('refused: not the unlock prompt');
      const current = question;
      if (current === null) return { done: true } satisfies SubmitReply;
      const parsed = unlockAnswerSchema.safeParse(raw);
      if (!parsed.success) {
        return {
          done: false,
          request: { ...current.request, message: 'Please fill in the form.' },
        } satisfies SubmitReply;
      }
      question = null;
      return new Promise<SubmitReply>((resolve) => {
        reply = resolve;
        current.answer(parsed.data);
      });
    });
  };

  const removeHandlers = (): void => {
    if (!handlersRegistered) return;
    handlersRegistered = false;
    options.ipcMain.removeHandler(IPC_UNLOCK_STATE);
    options.ipcMain.removeHandler(IPC_UNLOCK_SUBMIT);
  };

  return {
    ask(request) {
      if (closedByPerson) return Promise.resolve(null);
      registerHandlers();
      const answered = new Promise<UnlockAnswer | null>((resolve) => {
        question = { request, answer: resolve };
      });
      if (reply !== null) {
        // The page is waiting on its last submission: this question is the reply.
        reply({ done: false, request });
        reply = null;
      } else if (window === null) {
        const opened = options.openWindow();
        window = opened;
        opened.once('closed', () => {
          // Closed with a question open or an answer being tried: the person gave up.
          closedByPerson = question !== null || reply !== null;
          window = null;
          question?.answer(null);
          question = null;
          reply = null;
          removeHandlers();
        });
      }
      return answered;
    },
    finish() {
      reply?.({ done: true });
      reply = null;
      question = null;
      removeHandlers();
      const opened = window;
      window = null;
      if (opened !== null && !opened.isDestroyed()) opened.close();
    },
  };
}
