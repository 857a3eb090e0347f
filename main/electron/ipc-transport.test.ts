import { describe, expect, it } from 'vitest';
import { IPC_CHANGED, IPC_INVOKE } from '../../shared/api/bridge.js';
import type { InvokeResult, TransportContext } from '../core/clinic-core.js';
import { IpcTransport } from './ipc-transport.js';
import { RecordingIpcMain, RecordingWebContents, recordingFrame } from './recording-electron.js';

/** A stand-in clinic core: records each call, answers sign-in with a fresh token, and lets a test hold a call open. */
class RecordingCore {
  readonly calls: Array<{ channel: string; input: unknown; context: TransportContext }> = [];
  private issued = 0;
  /** Calls to this channel wait until `release()` is called. */
  holdChannel: string | null = null;
  private held: Array<() => void> = [];
  /** Overrides the answer of a channel. */
  answers = new Map<string, (context: TransportContext) => InvokeResult>();

  async invoke(channel: string, input: unknown, context: TransportContext): Promise<InvokeResult> {
    this.calls.push({ channel, input, context });
    if (channel === this.holdChannel) await new Promise<void>((resolve) => this.held.push(resolve));
    const answer = this.answers.get(channel);
    if (answer) return answer(context);
    if (channel === 'auth.signIn') {
      const token = `session-token-${++this.issued}-do-not-leak`;
      return {
        ok: true,
        output: { csrfToken: `csrf-${this.issued}` },
        effects: { session: { token, csrfToken: `csrf-${this.issued}` } },
      };
    }
    if (channel === 'auth.signOut') return { ok: true, output: { signedOut: true }, effects: { clearSession: true } };
    return { ok: true, output: { echo: channel }, effects: {} };
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }

  tokensSentFor(channel: string): Array<string | undefined> {
    return this.calls.filter((call) => call.channel === channel).map((call) => call.context.sessionToken);
  }
}

function setUp() {
  const ipcMain = new RecordingIpcMain();
  const core = new RecordingCore();
  const transport = new IpcTransport({ ipcMain, core });
  transport.register();
  const openWindow = (url = 'app://chairside/') => {
    const contents = new RecordingWebContents(url);
    transport.attachWindow(contents);
    return contents;
  };
  const call = (contents: RecordingWebContents, channel: unknown, input: unknown = {}) =>
    ipcMain.invoke(IPC_INVOKE, contents.eventFrom(), channel, input);
  return { ipcMain, core, transport, openWindow, call };
}

const signIn = { username: 'asha', password: 'Chairside-Op3n-Sesame' };

describe('IPC transport: who may call', () => {
  it('refuses a call from a frame showing a foreign URL, and the core never sees it', async () => {
    const { core, openWindow, ipcMain } = setUp();
    const window = openWindow('https://evil.example/');
    const answer = await ipcMain.invoke(IPC_INVOKE, window.eventFrom(), 'patients.search', { query: 'a' });
    expect(answer).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(core.calls).toEqual([]);
  });

  it('refuses a subframe of a clinic window, even one showing the app origin', async () => {
    const { core, openWindow, ipcMain } = setUp();
    const window = openWindow();
    const subframe = recordingFrame('app://chairside/', window.mainFrame);
    const answer = await ipcMain.invoke(IPC_INVOKE, window.eventFrom(subframe), 'setup.status', {});
    expect(answer).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(core.calls).toEqual([]);
  });

  it('refuses a window it was not given, and a frame that is gone', async () => {
    const { core, ipcMain } = setUp();
    const stranger = new RecordingWebContents();
    expect(await ipcMain.invoke(IPC_INVOKE, stranger.eventFrom(), 'setup.status', {})).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    expect(await ipcMain.invoke(IPC_INVOKE, stranger.eventFrom(null), 'setup.status', {})).toMatchObject({
      ok: false,
    });
    expect(core.calls).toEqual([]);
  });

  it('refuses the unlock prompt page in a clinic window', async () => {
    const { core, openWindow, call } = setUp();
    expect(await call(openWindow('app://unlock/'), 'setup.status')).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(core.calls).toEqual([]);
  });

  it('refuses an unknown channel without calling the core', async () => {
    const { core, openWindow, call } = setUp();
    const window = openWindow();
    expect(await call(window, 'patients.dropAll')).toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'There is no such operation.' },
    });
    expect(await call(window, 'toString')).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(await call(window, { name: 'setup.status' })).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(core.calls).toEqual([]);
  });

  it('passes a call from the clinic window to the core with its source', async () => {
    const { core, openWindow, call } = setUp();
    const window = openWindow();
    expect(await call(window, 'setup.status')).toEqual({ ok: true, output: { echo: 'setup.status' } });
    expect(core.calls).toEqual([
      { channel: 'setup.status', input: {}, context: { sessionToken: undefined, source: `ipc:${window.id}` } },
    ]);
  });
});

describe('IPC transport: sessions', () => {
  it('never gives the renderer the session token, only the output', async () => {
    const { openWindow, call, core } = setUp();
    const window = openWindow();
    const answer = await call(window, 'auth.signIn', signIn);
    expect(answer).toEqual({ ok: true, output: { csrfToken: 'csrf-1' } });
    await call(window, 'patients.create', {});
    const seen = JSON.stringify([answer, window.sent]);
    expect(seen).not.toContain('session-token');
    expect(core.tokensSentFor('patients.create')).toEqual(['session-token-1-do-not-leak']);
  });

  it('keeps a separate session for each window', async () => {
    const { openWindow, call, core } = setUp();
    const front = openWindow();
    const surgery = openWindow();
    await call(front, 'auth.signIn', signIn);
    await call(surgery, 'auth.signIn', signIn);
    await call(front, 'auth.session');
    await call(surgery, 'auth.session');
    await call(openWindow(), 'auth.session');
    expect(core.tokensSentFor('auth.session')).toEqual([
      'session-token-1-do-not-leak',
      'session-token-2-do-not-leak',
      undefined,
    ]);
  });

  it('forgets a window’s token when the window closes, and ends its session', async () => {
    const { openWindow, call, core, transport } = setUp();
    const window = openWindow();
    await call(window, 'auth.signIn', signIn);
    expect(transport.hasSession(window.id)).toBe(true);
    window.destroy();
    expect(transport.hasSession(window.id)).toBe(false);
    await Promise.resolve();
    expect(core.tokensSentFor('auth.signOut')).toEqual(['session-token-1-do-not-leak']);
  });

  it('forgets the token on sign-out and when the core says the session is gone', async () => {
    const { openWindow, call, core, transport } = setUp();
    const window = openWindow();
    await call(window, 'auth.signIn', signIn);
    await call(window, 'auth.signOut');
    expect(transport.hasSession(window.id)).toBe(false);

    await call(window, 'auth.signIn', signIn);
    core.answers.set('patients.get', () => ({
      ok: false,
      error: { code: 'SESSION_EXPIRED', message: 'Your session has ended; please sign in again.' },
      effects: {},
    }));
    await call(window, 'patients.get', { id: 'x' });
    expect(transport.hasSession(window.id)).toBe(false);
  });

  it('does not act as the session on public channels', async () => {
    const { openWindow, call, core } = setUp();
    const window = openWindow();
    await call(window, 'auth.signIn', signIn);
    await call(window, 'setup.status');
    expect(core.tokensSentFor('setup.status')).toEqual([undefined]);
  });

  it('ends the previous session when another user signs in at the same window', async () => {
    const { openWindow, call, core } = setUp();
    const window = openWindow();
    await call(window, 'auth.signIn', signIn);
    await call(window, 'auth.signIn', { username: 'ravi', password: 'Molar-Tr33-Lantern' });
    expect(core.tokensSentFor('auth.signOut')).toEqual(['session-token-1-do-not-leak']);
    await call(window, 'auth.session');
    expect(core.tokensSentFor('auth.session')).toEqual(['session-token-2-do-not-leak']);
  });
});

describe('IPC transport: change events and calls in flight', () => {
  it('tells every clinic window after a successful write, with the channel and kind of record only', async () => {
    const { openWindow, call } = setUp();
    const front = openWindow();
    const surgery = openWindow();
    await call(front, 'patients.create', { firstName: 'Meera' });
    const expected = [{ channel: IPC_CHANGED, args: [{ channel: 'patients.create', entityType: 'patient' }] }];
    expect(front.sent).toEqual(expected);
    expect(surgery.sent).toEqual(expected);
  });

  it('sends no change event after a read or a failed write', async () => {
    const { openWindow, call, core } = setUp();
    const window = openWindow();
    await call(window, 'patients.search', { query: 'me' });
    core.answers.set('patients.update', () => ({
      ok: false,
      error: { code: 'FORBIDDEN', message: 'Your role does not allow this.' },
      effects: {},
    }));
    await call(window, 'patients.update', {});
    expect(window.sent).toEqual([]);
  });

  it('skips closed windows when it broadcasts', async () => {
    const { openWindow, call } = setUp();
    const front = openWindow();
    openWindow().destroy();
    await call(front, 'patients.create', {});
    expect(front.sent).toHaveLength(1);
  });

  it('counts writes in flight until they finish', async () => {
    const { openWindow, call, core, transport } = setUp();
    const window = openWindow();
    core.holdChannel = 'patients.create';
    const running = call(window, 'patients.create', {});
    await Promise.resolve();
    expect(transport.tracker.inFlightWrites).toBe(1);
    core.release();
    await running;
    expect(transport.tracker.inFlightWrites).toBe(0);
  });

  it('waits for running calls when closing, then refuses new ones', async () => {
    const { openWindow, call, core, transport } = setUp();
    const window = openWindow();
    core.holdChannel = 'patients.create';
    const running = call(window, 'patients.create', {});
    await Promise.resolve();
    let closed = false;
    const closing = transport.close().then(() => (closed = true));
    await Promise.resolve();
    expect(closed).toBe(false);
    core.release();
    await closing;
    expect(await running).toMatchObject({ ok: true });
    expect(await call(window, 'setup.status')).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(core.calls.map((entry) => entry.channel)).toEqual(['patients.create']);
  });
});
