/**
 * The session token travels only in an HttpOnly cookie, so page scripts (and an injected one)
 * cannot read it; the CSRF token the page does hold is checked against the session here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import { z } from 'zod';

/**
 * Not `__Host-chairside_session`: that prefix (and the Secure attribute) needs HTTPS, which plain
 * http://127.0.0.1 cannot offer. The host only listens on loopback, so the cookie never crosses
 * a network; SameSite=Strict keeps other sites' pages from sending it.
 */
export const SESSION_COOKIE = 'chairside_session';

/** Cookie attributes; no Max-Age, so the cookie ends with the browser (the core ends the session sooner). */
export const SESSION_COOKIE_OPTIONS: CookieSerializeOptions = {
  httpOnly: true,
  sameSite: 'strict',
  path: '/',
  secure: false,
};

/** Tokens the core issues are 32 random bytes in base64url; anything else is not a token of ours. */
export const tokenSchema = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/);

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Pages (reloads, tabs) of one session whose CSRF tokens are honoured at once; older ones must resume again. */
const MAX_PAGES_PER_SESSION = 8;

/** Sessions kept track of at once; the oldest is forgotten beyond this (it then reads as signed out). */
const MAX_TRACKED_SESSIONS = 1000;

/**
 * The CSRF token of each session this host handed out, keyed by a digest of the session token.
 * The core keeps the CSRF token inside the session but does not expose it, so the host learns it
 * from `effects.session` and forgets it on `effects.clearSession` or when the core refuses the
 * session. Digests on both sides: the map holds no raw secret, and comparing equal-length
 * digests with timingSafeEqual reveals nothing through timing.
 */
export class CsrfTokens {
  /** Digests of the CSRF tokens each session's pages hold: one per page that resumed it (tabs). */
  private readonly bySession = new Map<string, Buffer[]>();

  /** Records the CSRF token of a new or renewed session. */
  remember(sessionToken: string, csrfToken: string): void {
    const key = digest(sessionToken).toString('hex');
    this.bySession.delete(key);
    this.bySession.set(key, [digest(csrfToken)]);
    // Sessions that were never signed out (a closed browser) would otherwise pile up; the core
    // ends them on its own clock without telling the transport.
    if (this.bySession.size > MAX_TRACKED_SESSIONS) {
      const oldest = this.bySession.keys().next().value;
      if (oldest !== undefined) this.bySession.delete(oldest);
    }
  }

  /**
   * Adds a CSRF token for another page of a known session (a reload, a second tab resuming it),
   * keeping those of the pages already open; only the newest few are kept.
   */
  rememberAnother(sessionToken: string, csrfToken: string): void {
    const known = this.bySession.get(digest(sessionToken).toString('hex'));
    if (!known) return;
    known.push(digest(csrfToken));
    if (known.length > MAX_PAGES_PER_SESSION) known.shift();
  }

  /** Forgets a session (signed out, renewed, or refused by the core). */
  forget(sessionToken: string): void {
    this.bySession.delete(digest(sessionToken).toString('hex'));
  }

  /** True when this host issued the session token and has not forgotten it. */
  knows(sessionToken: string): boolean {
    return this.bySession.has(digest(sessionToken).toString('hex'));
  }

  /** True when the header carries the session's current CSRF token. */
  matches(sessionToken: string, csrfHeader: string | undefined): boolean {
    const expected = this.bySession.get(digest(sessionToken).toString('hex'));
    if (!expected || csrfHeader === undefined) return false;
    const presented = digest(csrfHeader);
    // Every entry is compared, so the time taken does not say which one matched.
    let matched = false;
    for (const candidate of expected) matched = timingSafeEqual(candidate, presented) || matched;
    return matched;
  }
}
