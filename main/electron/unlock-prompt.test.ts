import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import * as preloadSide from '../../preload/unlock-client.js';
import { RecordingIpcMain, RecordingWebContents, recordingFrame } from './recording-electron.js';
import {
  IPC_UNLOCK_STATE,
  IPC_UNLOCK_SUBMIT,
  type PromptWindowLike,
  type UnlockRequest,
  createUnlockPrompt,
} from './unlock-prompt.js';

/** A recording stand-in for the prompt's BrowserWindow. */
class RecordingPromptWindow extends EventEmitter implements PromptWindowLike {
  readonly webContents = new RecordingWebContents('app://unlock/');
  closed = false;

  isDestroyed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.emit('closed');
  }
}

function setUp() {
  const ipcMain = new RecordingIpcMain();
  const windows: RecordingPromptWindow[] = [];
  const prompt = createUnlockPrompt({
    ipcMain,
    openWindow: () => {
      const window = new RecordingPromptWindow();
      windows.push(window);
      return window;
    },
  });
  const fromPage = () => windows[0]!.webContents.eventFrom();
  return { ipcMain, windows, prompt, fromPage };
}

const unlock: UnlockRequest = { mode: 'unlock', recoverNeedsPassphrase: true, message: null };
const answer = { mode: 'unlock', passphrase: 'correct horse battery staple' } as const;

describe('unlock prompt', () => {
  it('opens its window at the first question only, and tells the page what it asks', async () => {
    const { ipcMain, windows, prompt, fromPage } = setUp();
    expect(windows).toHaveLength(0);
    void prompt.ask(unlock);
    expect(windows).toHaveLength(1);
    expect(await ipcMain.invoke(IPC_UNLOCK_STATE, fromPage())).toEqual(unlock);
  });

  it('hands the submitted answer to the flow and replies with the next question', async () => {
    const { ipcMain, prompt, fromPage, windows } = setUp();
    const first = prompt.ask(unlock);
    const reply = ipcMain.invoke(IPC_UNLOCK_SUBMIT, fromPage(), answer);
    expect(await first).toEqual(answer);
    const again = { ...unlock, message: 'The database passphrase is incorrect.' };
    void prompt.ask(again);
    expect(await reply).toEqual({ done: false, request: again });
    expect(windows).toHaveLength(1);
  });

  it('replies done and closes the window when the answer worked', async () => {
    const { ipcMain, prompt, fromPage, windows } = setUp();
    const first = prompt.ask(unlock);
    const reply = ipcMain.invoke(IPC_UNLOCK_SUBMIT, fromPage(), answer);
    await first;
    prompt.finish();
    expect(await reply).toEqual({ done: true });
    expect(windows[0]!.closed).toBe(true);
    expect(ipcMain.handlers.size).toBe(0);
  });

  it('refuses a form of the wrong shape without bothering the flow', async () => {
    const { ipcMain, prompt, fromPage } = setUp();
    let answered = false;
    void prompt.ask(unlock).then(() => (answered = true));
    const reply = await ipcMain.invoke(IPC_UNLOCK_SUBMIT, fromPage(), { mode: 'unlock', passphrase: 1, extra: true });
    expect(reply).toMatchObject({ done: false, request: { message: 'Please fill in the form.' } });
    await Promise.resolve();
    expect(answered).toBe(false);
  });

  it('answers only the prompt window’s main frame on the unlock page', async () => {
    const { ipcMain, prompt, windows } = setUp();
    void prompt.ask(unlock);
    const clinicWindow = new RecordingWebContents('app://chairside/');
    await expect(ipcMain.invoke(IPC_UNLOCK_STATE, clinicWindow.eventFrom())).rejects.toThrow(/refused/);
    const page = windows[0]!.webContents;
    const subframe = recordingFrame('app://unlock/', page.mainFrame);
    await expect(ipcMain.invoke(IPC_UNLOCK_SUBMIT, page.eventFrom(subframe), answer)).rejects.toThrow(/refused/);
    page.mainFrame.url = 'https://evil.example/';
    await expect(ipcMain.invoke(IPC_UNLOCK_SUBMIT, page.eventFrom(), answer)).rejects.toThrow(/refused/);
  });

  it('gives up when the person closes the window', async () => {
    const { prompt, windows } = setUp();
    const pending = prompt.ask(unlock);
    windows[0]!.close();
    expect(await pending).toBeNull();
    expect(await prompt.ask(unlock)).toBeNull();
  });

  it('uses the same IPC channel names as the prompt’s preload', () => {
    expect([IPC_UNLOCK_STATE, IPC_UNLOCK_SUBMIT]).toEqual([
      preloadSide.IPC_UNLOCK_STATE,
      preloadSide.IPC_UNLOCK_SUBMIT,
    ]);
  });
});
