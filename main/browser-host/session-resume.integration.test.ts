/**
 * A reloaded page resumes its session over the browser host: auth.session with the cookie and no
 * CSRF token answers with a new token for that page, while every other call without the token is
 * still refused, and the page that was already open keeps working (a second tab).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type TestClinic, createTestClinic } from '../../test/support/clinic-fixture.js';
import { createBrowserHost, listenOnLoopback } from './server.js';

/** A page of the app: the cookie as the browser keeps it, the CSRF token as the page's memory does. */
class Page {
  cookie: string | undefined;
  csrfToken: string | undefined;

  constructor(private readonly base: string) {}

  async call(
    channel: string,
    input: unknown = {},
  ): Promise<{ status: number; body: Record<string, unknown>; csrf: string | null }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cookie !== undefined) headers.cookie = `chairside_session=${this.cookie}`;
    if (this.csrfToken !== undefined) headers['x-csrf-token'] = this.csrfToken;
    const response = await fetch(`${this.base}/api/${channel}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(input),
    });
    const set = response.headers.getSetCookie().find((line) => line.startsWith('chairside_session='));
    if (set !== undefined) this.cookie = set.split(';')[0]!.slice('chairside_session='.length) || undefined;
    const body = (await response.json()) as Record<string, unknown>;
    if (typeof body.csrfToken === 'string') this.csrfToken = body.csrfToken;
    return { status: response.status, body, csrf: response.headers.get('x-csrf-token') };
  }
}

describe('browser host session resume', () => {
  let clinic: TestClinic | undefined;
  let closeHost: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await closeHost?.();
    await clinic?.close();
  });

  async function signedInPage(): Promise<{ page: Page; url: string }> {
    clinic = await createTestClinic();
    const app = createBrowserHost(clinic.core, {});
    closeHost = () => app.close();
    const { url } = await listenOnLoopback(app, { port: 0 });
    const page = new Page(url);
    expect((await page.call('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(200);
    return { page, url };
  }

  it('answers auth.session without a CSRF token with a new token that then works, and the old page keeps its own', async () => {
    const { page, url } = await signedInPage();
    const reloaded = new Page(url);
    reloaded.cookie = page.cookie;
    const refused = await reloaded.call('patients.search', { query: 'a' });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'CSRF_REJECTED' } });

    const resumed = await reloaded.call('auth.session');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: 'active', user: { username: 'admin' } });
    expect(resumed.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(resumed.csrf).not.toBe(page.csrfToken);
    reloaded.csrfToken = resumed.csrf!;
    expect((await reloaded.call('patients.search', { query: 'a' })).status).toBe(200);
    expect((await page.call('patients.search', { query: 'a' })).status).toBe(200);
  });

  it('gives no token (and writes no audit entry) without a session cookie, and none for a wrong token', async () => {
    const { page, url } = await signedInPage();
    const stranger = new Page(url);
    const noCookie = await stranger.call('auth.session');
    expect(noCookie.status).toBe(401);
    expect(noCookie.csrf).toBeNull();
    // Every page load asks; with no session to resume that is not a denied attempt in the audit log.
    const asked = await clinic!.asAdmin('audit.list', { action: 'auth.session' });
    expect(asked.entries.filter((entry) => entry.outcome !== 'success')).toEqual([]);
    const wrong = new Page(url);
    wrong.cookie = page.cookie;
    wrong.csrfToken = 'A'.repeat(43);
    const refused = await wrong.call('auth.session');
    expect(refused.status).toBe(403);
    expect(refused.csrf).toBeNull();
  });
});
