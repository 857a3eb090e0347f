/**
 * `POST /api/<channel>`: one call of the core per request. The session token comes from the
 * HttpOnly cookie and never appears in JSON; calls that act as a session must carry that
 * session's CSRF token in `x-csrf-token`.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findChannel } from '../../shared/api/registry.js';
import { PUBLIC } from '../../shared/permissions.js';
import type { ClinicCore, InvokeResult } from '../core/clinic-core.js';
import { sendApiError, sendHostError } from './error-envelope.js';
import { CsrfTokens, SESSION_COOKIE, SESSION_COOKIE_OPTIONS, tokenSchema } from './session-cookie.js';

/** Codes after which the session in the cookie is gone for good, so the cookie goes too. */
const SESSION_GONE: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'SESSION_EXPIRED']);

/**
 * The channel a reloaded page resumes its session with. The page lost its CSRF token with its
 * memory; the cookie still names the session, so this one call is answered without the token and
 * hands the page a new one in the `x-csrf-token` response header. That gives nothing to another
 * site: request-guards.ts refuses a foreign Origin and any body but JSON, SameSite=Strict keeps
 * the cookie off cross-site requests, and no other origin can read the answer. The core still
 * decides: an idle session answers `locked`, an expired one SESSION_EXPIRED.
 */
const RESUME_CHANNEL = 'auth.session';

/** The session token in the request's cookie, when it has the shape of one. */
function cookieToken(request: FastifyRequest): string | undefined {
  const parsed = tokenSchema.safeParse(request.cookies[SESSION_COOKIE]);
  return parsed.success ? parsed.data : undefined;
}

/** The x-csrf-token header, when it has the shape of a token. */
function csrfHeader(request: FastifyRequest): string | undefined {
  const parsed = tokenSchema.safeParse(request.headers['x-csrf-token']);
  return parsed.success ? parsed.data : undefined;
}

/** What the request brought of a session. */
interface HeldSession {
  /** A cookie of that name was sent (even a malformed one, which is then cleared). */
  readonly cookieSent: boolean;
  /** The token in it, when this host issued it and still tracks it. */
  readonly knownToken: string | undefined;
}

/** Registers the API route on the host. */
export function registerApiRoutes(app: FastifyInstance, core: ClinicCore): void {
  const csrfTokens = new CsrfTokens();

  /** Moves the cookie and the CSRF map along with the session effects of a result. */
  async function applySessionEffects(
    reply: FastifyReply,
    result: InvokeResult,
    held: HeldSession,
    publicChannel: boolean,
    source: string,
  ): Promise<void> {
    const { session, clearSession } = result.effects;
    if (session) {
      if (held.knownToken !== undefined && held.knownToken !== session.token) {
        csrfTokens.forget(held.knownToken);
        // A sign-in from a browser that still held a session (a reload lost the CSRF token, or
        // another user at the same front-desk PC): nobody holds the old token any more, so end
        // it rather than leave a live session behind. Renewals (re-auth, unlock) come from
        // session channels and have already retired the old token inside the core.
        if (publicChannel) await core.invoke('auth.signOut', {}, { sessionToken: held.knownToken, source });
      }
      csrfTokens.remember(session.token, session.csrfToken);
      reply.setCookie(SESSION_COOKIE, session.token, SESSION_COOKIE_OPTIONS);
      return;
    }
    const sessionGone = clearSession === true || (!result.ok && SESSION_GONE.has(result.error.code));
    if (sessionGone && held.cookieSent) {
      if (held.knownToken !== undefined) csrfTokens.forget(held.knownToken);
      reply.clearCookie(SESSION_COOKIE, SESSION_COOKIE_OPTIONS);
    }
  }

  app.post<{ Params: { channel: string } }>('/api/:channel', async (request, reply) => {
    const channel = findChannel(request.params.channel);
    if (!channel) return sendHostError(reply, 'NOT_FOUND', 'There is no such operation.');
    const token = cookieToken(request);
    const held: HeldSession = {
      cookieSent: request.cookies[SESSION_COOKIE] !== undefined,
      knownToken: token !== undefined && csrfTokens.knows(token) ? token : undefined,
    };
    // Public channels (setup, sign-in) never act as a session, so the cookie carries no
    // authority there and is not passed on; that is also how a page that lost its CSRF token
    // (a reload) signs in again. Every other call with a cookie of ours must prove it comes
    // from our page. A cookie this host never issued, or forgot, counts as no session.
    if (channel.name === RESUME_CHANNEL && held.knownToken === undefined) {
      // Every page load asks whether there is a session to resume; without a cookie of ours there
      // is none, and that question is not a denied attempt worth an audit entry each time.
      if (held.cookieSent) reply.clearCookie(SESSION_COOKIE, SESSION_COOKIE_OPTIONS);
      return sendHostError(reply, 'UNAUTHENTICATED', 'Please sign in.');
    }
    const publicChannel = channel.permission === PUBLIC;
    let sessionToken: string | undefined;
    let resuming = false;
    if (!publicChannel && held.knownToken !== undefined) {
      const csrf = csrfHeader(request);
      resuming = channel.name === RESUME_CHANNEL && request.headers['x-csrf-token'] === undefined;
      if (!resuming && !csrfTokens.matches(held.knownToken, csrf)) {
        return sendHostError(reply, 'CSRF_REJECTED', 'This request did not come from the Chairside page.');
      }
      sessionToken = held.knownToken;
    }
    const source = request.ip;
    const result = await core.invoke(channel.name, request.body, { sessionToken, source });
    await applySessionEffects(reply, result, held, publicChannel, source);
    if (resuming && result.ok && sessionToken !== undefined) {
      // A CSRF token of its own for the reloaded page (or another tab); other pages keep theirs.
      const csrfToken = randomBytes(32).toString('base64url');
      csrfTokens.rememberAnother(sessionToken, csrfToken);
      reply.header('x-csrf-token', csrfToken);
    }
    if (!result.ok) return sendApiError(reply, result.error);
    return reply.code(200).type('application/json; charset=utf-8').send(result.output);
  });
}
