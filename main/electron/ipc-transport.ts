/**
 * The clinic API over Electron IPC: the preload's `invoke(channel, input)` arrives here as
 * `ipcMain.handle(IPC_INVOKE)`, runs through the core's pipeline, and only `{ok, output}` or
 * `{ok: false, error}` goes back. The transport
 *   - answers only the main frame of a window it was given, while that frame shows the clinic UI
 *     (`app://chairside/`); anything else is refused with FORBIDDEN before the core sees it;
 *   - keeps each window's session token here in main, keyed by its webContents id: the renderer
 *     never holds it, so a script in the page cannot steal it, and a reload resumes the session;
 *   - ends a window's session when the window closes;
 *   - tells every clinic window which kind of record changed after a committed write;
 *   - counts the calls in flight, for shutdown and the updater.
 * Electron's objects are passed in, so it runs under test with a recording stand-in.
 */
import { type ChangeEvent, IPC_CHANGED, IPC_INVOKE } from '../../shared/api/bridge.js';
import type { ApiErrorBody, ApiErrorCode } from '../../shared/api/errors.js';
import { type ChannelName, findChannel } from '../../shared/api/registry.js';
import { PUBLIC } from '../../shared/permissions.js';
import type { InvokeResult, TransportContext } from '../core/clinic-core.js';
import { createLogger } from '../core/logger.js';
import { isAppUrl } from './app-origin.js';
import { CallTracker } from './call-tracker.js';

const log = createLogger('electron-ipc');

/** The parts of Electron's WebFrameMain the sender check reads. */
export interface FrameLike {
  readonly url: string;
  readonly parent: unknown;
  readonly processId: number;
  readonly routingId: number;
}

/** The parts of Electron's WebContents the transport uses. */
export interface TransportWebContents {
  readonly id: number;
  readonly mainFrame: FrameLike;
  isDestroyed(): boolean;
  send(channel: string, ...args: unknown[]): void;
  once(event: 'destroyed', listener: () => void): unknown;
}

/** The parts of Electron's IpcMainInvokeEvent the transport reads. */
export interface InvokeEventLike {
  readonly sender: TransportWebContents;
  readonly senderFrame: FrameLike | null;
}

/** The parts of Electron's ipcMain the transport uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>): void;
}

/** What the transport needs of the clinic core. */
export interface CoreLike {
  invoke(channel: string, input: unknown, transport: TransportContext): Promise<InvokeResult>;
}

/** What the renderer receives for one call: never the effects, never a token. */
export type BridgeResponse =
  { readonly ok: true; readonly output: unknown } | { readonly ok: false; readonly error: ApiErrorBody };

/** Codes after which the session behind a token is gone for good (as in the browser host). */
const SESSION_GONE: ReadonlySet<ApiErrorCode> = new Set(['UNAUTHENTICATED', 'SESSION_EXPIRED']);

const failure = (code: ApiErrorCode, message: string): BridgeResponse => ({ ok: false, error: { code, message } });

export interface IpcTransportOptions {
  readonly ipcMain: IpcMainLike;
  readonly core: CoreLike;
  readonly tracker?: CallTracker;
}

export class IpcTransport {
  readonly tracker: CallTracker;
  private readonly ipcMain: IpcMainLike;
  private readonly core: CoreLike;
  /** The clinic windows, by webContents id. */
  private readonly windows = new Map<number, TransportWebContents>();
  /** Each window's session token; never sent to a renderer. */
  private readonly tokens = new Map<number, string>();
  private closing = false;

  constructor(options: IpcTransportOptions) {
    this.ipcMain = options.ipcMain;
    this.core = options.core;
    this.tracker = options.tracker ?? new CallTracker();
  }

  /** Registers the IPC handler; call once. */
  register(): void {
    this.ipcMain.handle(IPC_INVOKE, (event, channel, input) => this.handleInvoke(event, channel, input));
  }

  /** Makes a window of ours a clinic window: its main frame may call the API once it shows the clinic UI. */
  attachWindow(contents: TransportWebContents): void {
    const id = contents.id;
    this.windows.set(id, contents);
    contents.once('destroyed', () => this.forgetWindow(id));
  }

  /** True while the window holds a session (for tests and diagnostics; the token itself stays private). */
  hasSession(webContentsId: number): boolean {
    return this.tokens.has(webContentsId);
  }

  /**
   * Stops taking calls and waits for the running ones (at most `timeoutMs`), so the core can be
   * closed next. Sessions are not ended call by call: they live in the core's memory and end
   * with it.
   */
  async close(timeoutMs = 15_000): Promise<void> {
    this.closing = true;
    this.tokens.clear();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([this.tracker.whenNoCalls(), timedOut]);
    clearTimeout(timer);
    if (this.tracker.inFlightCalls > 0)
      log.warn('closing with calls still running', { calls: this.tracker.inFlightCalls });
  }

  private async handleInvoke(event: InvokeEventLike, channelName: unknown, input: unknown): Promise<BridgeResponse> {
    if (!this.isClinicFrame(event)) {
      log.warn('ipc call refused: not a clinic window', { webContentsId: event.sender.id });
      return failure('FORBIDDEN', 'This request did not come from the Chairside window.');
    }
    const channel = typeof channelName === 'string' ? findChannel(channelName) : undefined;
    if (!channel) return failure('NOT_FOUND', 'There is no such operation.');
    if (this.closing) return failure('INTERNAL', 'Chairside is closing; nothing was saved.');
    const id = event.sender.id;
    const source = `ipc:${id}`;
    const publicChannel = channel.permission === PUBLIC;
    const held = this.tokens.get(id);
    const end = this.tracker.begin(channel.writes);
    try {
      // Public channels (setup, sign-in) never act as a session, as over HTTP.
      const result = await this.core.invoke(channel.name, input, {
        sessionToken: publicChannel ? undefined : held,
        source,
      });
      await this.applySessionEffects(id, held, result, publicChannel, source);
      if (result.ok && channel.writes) {
        this.broadcast({ channel: channel.name as ChannelName, entityType: channel.audit.entityType });
      }
      return result.ok ? { ok: true, output: result.output } : { ok: false, error: result.error };
    } catch (error) {
      // The pipeline never throws; this is a defect in the transport itself.
      log.error('ipc call failed', { channel: channel.name, error: error instanceof Error ? error.name : 'unknown' });
      return failure('INTERNAL', 'Something went wrong; nothing was saved.');
    } finally {
      end();
    }
  }

  /** The sender is the main frame of one of our clinic windows, showing the clinic UI. */
  private isClinicFrame(event: InvokeEventLike): boolean {
    const contents = event.sender;
    const frame = event.senderFrame;
    if (!this.windows.has(contents.id) || contents.isDestroyed() || frame === null) return false;
    const main = contents.mainFrame;
    const isMainFrame =
      frame === main ||
      (frame.parent === null && frame.processId === main.processId && frame.routingId === main.routingId);
    return isMainFrame && isAppUrl(frame.url);
  }

  /** Moves the window's token along with the session effects of a result (as the browser host moves its cookie). */
  private async applySessionEffects(
    id: number,
    held: string | undefined,
    result: InvokeResult,
    publicChannel: boolean,
    source: string,
  ): Promise<void> {
    const { session, clearSession } = result.effects;
    if (session) {
      // A sign-in in a window that still held a session (another user at the same front desk):
      // nobody can use the old token any more, so end it rather than leave it live. Renewals
      // (re-authentication, unlock) come from session channels and retire the old one in the core.
      if (publicChannel && held !== undefined && held !== session.token) await this.endSession(held, source);
      if (this.windows.has(id)) {
        this.tokens.set(id, session.token);
      } else {
        // The window closed while signing in: its session must not outlive it.
        await this.endSession(session.token, source);
      }
      return;
    }
    const gone = clearSession === true || (!result.ok && !publicChannel && SESSION_GONE.has(result.error.code));
    if (gone && this.tokens.get(id) === held) this.tokens.delete(id);
  }

  /** Signs a session out in the core (audited as a sign-out); a token that is already gone is fine. */
  private async endSession(token: string, source: string): Promise<void> {
    if (this.closing) return;
    const end = this.tracker.begin(true);
    try {
      await this.core.invoke('auth.signOut', {}, { sessionToken: token, source });
    } finally {
      end();
    }
  }

  private forgetWindow(id: number): void {
    this.windows.delete(id);
    const token = this.tokens.get(id);
    this.tokens.delete(id);
    if (token !== undefined) {
      this.endSession(token, `ipc:${id}`).catch(() => log.warn('ending the session of a closed window failed'));
    }
  }

  /** Tells every clinic window that a write committed; no patient data, only the channel and the kind of record. */
  private broadcast(change: ChangeEvent): void {
    for (const contents of this.windows.values()) {
      if (contents.isDestroyed() || !isAppUrl(contents.mainFrame.url)) continue;
      contents.send(IPC_CHANGED, change);
    }
  }
}
