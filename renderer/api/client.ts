/**
 * The one API client every screen uses: typed by the channel registry, over whichever transport
 * this window has. It also carries out what the session errors mean for the user: a channel
 * that wants a fresh password prompts for it and is retried once; a locked session shows the
 * lock screen and the call is retried once after unlocking; a session that is gone ends in the
 * sign-in screen. The App supplies those prompts as SessionHooks.
 */
import type { ChannelInput, ChannelName, ChannelOutput } from '../../shared/api/registry.js';
import { ApiError, SESSION_GONE_CODES } from './api-error.js';
import { type Transport, bridgeTransport, httpTransport } from './transport.js';

/** What the signed-in App does when a call runs into a session state. */
export interface SessionHooks {
  /** A channel answered REAUTH_REQUIRED: ask for the password; resolves true once confirmed. */
  confirmPassword(): Promise<boolean>;
  /** A channel answered SESSION_LOCKED: show the lock screen; resolves true once unlocked. */
  sessionLocked(): Promise<boolean>;
  /** The session is gone (expired, ended elsewhere, or this page lost it): back to sign-in. */
  sessionEnded(error: ApiError): void;
}

/** The typed API, as screens see it. */
export interface Api {
  /** Calls a channel; resolves to its output or rejects with an ApiError. */
  invoke<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>>;
}

/** Channels whose session errors belong to the screen that called them (sign-in, lock, setup). */
function handlesItsOwnSession(channel: ChannelName): boolean {
  return channel.startsWith('auth.') || channel.startsWith('setup.');
}

export class ApiClient implements Api {
  private hooks: SessionHooks | null = null;
  // One prompt at a time, however many calls ran into it together.
  private confirming: Promise<boolean> | null = null;
  private unlocking: Promise<boolean> | null = null;

  constructor(readonly transport: Transport) {}

  /** Installs the prompts of a signed-in App (null while nobody is signed in). */
  setSessionHooks(hooks: SessionHooks | null): void {
    this.hooks = hooks;
  }

  invoke<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>> {
    return this.attempt(channel, input, true);
  }

  private async attempt<K extends ChannelName>(
    channel: K,
    input: ChannelInput<K>,
    mayRetry: boolean,
  ): Promise<ChannelOutput<K>> {
    try {
      return await this.transport.invoke(channel, input);
    } catch (error) {
      const hooks = this.hooks;
      if (!(error instanceof ApiError) || hooks === null || handlesItsOwnSession(channel)) throw error;
      if (SESSION_GONE_CODES.has(error.code)) {
        hooks.sessionEnded(error);
        throw error;
      }
      if (error.code === 'REAUTH_REQUIRED' && mayRetry) {
        this.confirming ??= hooks.confirmPassword().finally(() => (this.confirming = null));
        if (await this.confirming) return this.attempt(channel, input, false);
      }
      if (error.code === 'SESSION_LOCKED' && mayRetry) {
        // The call was refused before it ran, so running it again after the unlock is safe.
        this.unlocking ??= hooks.sessionLocked().finally(() => (this.unlocking = null));
        if (await this.unlocking) return this.attempt(channel, input, false);
      }
      throw error;
    }
  }
}

/** The client of this window: the Electron bridge when the preload provides one, else HTTP. */
export function createApiClient(): ApiClient {
  const bridge = window.chairside;
  return new ApiClient(bridge !== undefined ? bridgeTransport(bridge) : httpTransport());
}
