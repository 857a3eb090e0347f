/**
 * The two ways the renderer reaches the API: the Electron preload's bridge (window.chairside),
 * and the browser host's HTTP API on the same origin. Both answer a call with its output or throw
 * an ApiError; what differs is who holds the session (main per window, or an HttpOnly cookie).
 */
import type { ChairsideBridge } from '../../shared/api/bridge.js';
import { apiErrorEnvelopeSchema } from '../../shared/api/errors.js';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../shared/api/registry.js';
import { ApiError, SESSION_GONE_CODES } from './api-error.js';

declare global {
  interface Window {
    /** Present in the desktop app only (the preload's contextBridge object). */
    readonly chairside?: ChairsideBridge;
  }
}

/** Carries one call to the API and back. */
export interface Transport {
  readonly kind: 'bridge' | 'http';
  /**
   * True when a session can outlive the page, so a reload may resume it with auth.session:
   * Electron keeps the session in main per window; over HTTP the HttpOnly cookie keeps it and the
   * browser host answers that call with a new CSRF token for the reloaded page.
   */
  readonly canResumeSession: boolean;
  invoke<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>>;
}

const UNREACHABLE_MESSAGE = 'Chairside is not reachable. Check that it is still running, then try again.';

/** The Electron bridge: main keeps the session token; the renderer never sees it. */
export function bridgeTransport(bridge: ChairsideBridge): Transport {
  return {
    kind: 'bridge',
    canResumeSession: true,
    async invoke(channel, input) {
      let response;
      try {
        response = await bridge.invoke(channel, input);
      } catch {
        throw new ApiError('UNREACHABLE', UNREACHABLE_MESSAGE);
      }
      if (!response.ok) throw ApiError.fromBody(response.error);
      return response.output;
    },
  };
}

/** Channels whose output is a session grant carrying the CSRF token of the (new) session. */
const GRANT_CHANNELS: ReadonlySet<ChannelName> = new Set(['auth.signIn', 'auth.reauthenticate', 'auth.unlock']);

/**
 * The browser host's `POST /api/<channel>`. The session cookie is HttpOnly and sent by the
 * browser; the CSRF token of the latest grant is kept here, in memory only (never in storage an
 * injected script could read later), and sent as `x-csrf-token`.
 */
export function httpTransport(fetchImpl: typeof fetch = (input, init) => fetch(input, init)): Transport {
  let csrfToken: string | null = null;
  return {
    kind: 'http',
    canResumeSession: true,
    async invoke(channel, input) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (csrfToken !== null) headers['x-csrf-token'] = csrfToken;
      let response: Response;
      try {
        response = await fetchImpl(`/api/${channel}`, {
          method: 'POST',
          headers,
          body: JSON.stringify(input ?? {}),
          credentials: 'same-origin',
          cache: 'no-store',
        });
      } catch {
        throw new ApiError('UNREACHABLE', UNREACHABLE_MESSAGE);
      }
      let body: unknown;
      try {
        body = await response.json();
      } catch {
        throw new ApiError('BAD_RESPONSE', 'Chairside answered in a way this page does not understand.');
      }
      if (!response.ok) {
        const envelope = apiErrorEnvelopeSchema.safeParse(body);
        if (!envelope.success) {
          throw new ApiError('BAD_RESPONSE', 'Chairside answered in a way this page does not understand.');
        }
        if (SESSION_GONE_CODES.has(envelope.data.error.code)) csrfToken = null;
        throw ApiError.fromBody(envelope.data.error);
      }
      if (channel === 'auth.session') {
        // Answered without a token after a reload: the host hands this page a new one.
        const resumed = response.headers.get('x-csrf-token');
        if (resumed !== null) csrfToken = resumed;
      } else if (GRANT_CHANNELS.has(channel)) {
        const granted = (body as { csrfToken?: unknown }).csrfToken;
        if (typeof granted === 'string') csrfToken = granted;
      } else if (channel === 'auth.signOut') {
        csrfToken = null;
      }
      return body as ChannelOutput<typeof channel>;
    },
  };
}
