/**
 * The browser host over real HTTP: a core built from the test fixture, served on 127.0.0.1 with
 * port 0, called with node's fetch (and node:http where fetch cannot set a header, like Host).
 * The last block spawns the real CLI with the production scrypt cost.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { apiErrorEnvelopeSchema } from '../../shared/api/errors.js';
import type { RateLimitPolicy } from '../core/api/rate-limits.js';
import { ClinicCore } from '../core/clinic-core.js';
import { type ManualClock, testSources } from '../core/platform/sources.js';
import { ADMIN_PASSWORD, USER_PASSWORD, tempDataDir, testKeyProvider } from '../../test/support/clinic-fixture.js';
import { createBrowserHost, listenOnLoopback } from './server.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MINUTE = 60_000;

interface RunningHost {
  readonly url: string;
  readonly port: number;
  readonly clock: ManualClock;
  close(): Promise<void>;
}

/** Opens a core in a fresh directory and serves it on a free loopback port. */
async function startHost(
  options: { rateLimits?: Partial<RateLimitPolicy>; staticDir?: string } = {},
): Promise<RunningHost> {
  const temp = tempDataDir();
  const sources = testSources('browser-host');
  const core = await ClinicCore.open({
    dataDir: temp.dir,
    keyProvider: testKeyProvider(),
    sources,
    bcryptCost: 4,
    ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
  });
  const app = createBrowserHost(core, options.staticDir !== undefined ? { staticDir: options.staticDir } : {});
  const { port, url } = await listenOnLoopback(app, { port: 0 });
  return {
    url,
    port,
    clock: sources.clock,
    async close() {
      await app.close();
      await core.close();
      temp.remove();
    },
  };
}

let host: RunningHost | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

/** A response read once: status, headers and the parsed JSON body. */
interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

async function readReply(response: Response): Promise<Reply> {
  const text = await response.text();
  const isJson = response.headers.get('content-type')?.startsWith('application/json') ?? false;
  return { status: response.status, headers: response.headers, text, json: isJson ? JSON.parse(text) : {} };
}

/** The session cookie a response sets: its value and attributes, or undefined. */
function sessionCookie(headers: Headers): { value: string; attributes: string[] } | undefined {
  const cookie = headers.getSetCookie().find((line) => line.startsWith('chairside_session='));
  if (cookie === undefined) return undefined;
  const [pair = '', ...attributes] = cookie.split(';').map((part) => part.trim());
  return { value: pair.slice('chairside_session='.length), attributes };
}

/** The error envelope of a failed reply, checked against the shared schema (no extra keys, no stack). */
function envelope(reply: Reply) {
  return apiErrorEnvelopeSchema.parse(reply.json).error;
}

/** A browser tab: keeps the session cookie like a browser's jar and the CSRF token like the page. */
class BrowserTab {
  cookie: string | undefined;
  csrfToken: string | undefined;

  constructor(private readonly base: string) {}

  /** POSTs a channel call as the Chairside page would; `csrf` overrides the header (null: none). */
  async call(channel: string, input: unknown = {}, options: { csrf?: string | null } = {}): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cookie !== undefined) headers.cookie = `chairside_session=${this.cookie}`;
    const csrf = options.csrf === undefined ? this.csrfToken : options.csrf;
    if (csrf !== null && csrf !== undefined) headers['x-csrf-token'] = csrf;
    const reply = await readReply(
      await fetch(`${this.base}/api/${channel}`, { method: 'POST', headers, body: JSON.stringify(input) }),
    );
    const set = sessionCookie(reply.headers);
    if (set !== undefined) this.cookie = set.value.length > 0 ? set.value : undefined;
    if (reply.status === 200 && typeof reply.json.csrfToken === 'string') this.csrfToken = reply.json.csrfToken;
    return reply;
  }

  /** Calls a channel that must succeed and returns its output. */
  async ok(channel: string, input: unknown = {}): Promise<Record<string, unknown>> {
    const reply = await this.call(channel, input);
    if (reply.status !== 200) throw new Error(`${channel} failed: ${reply.status} ${reply.text}`);
    return reply.json;
  }
}

/** Creates the clinic over HTTP; returns its ids. */
async function setUpClinic(base: string): Promise<{ branchId: string; recoveryKey: string }> {
  const output = await new BrowserTab(base).ok('setup.createClinic', {
    clinicName: 'Smile Dental',
    branchName: 'Main Street',
    admin: { username: 'admin', displayName: 'Asha Admin', password: ADMIN_PASSWORD },
  });
  return { branchId: String(output.branchId), recoveryKey: String(output.recoveryKey) };
}

/** A tab with a user signed in. */
async function signedIn(base: string, username: string, password: string): Promise<BrowserTab> {
  const tab = new BrowserTab(base);
  await tab.ok('auth.signIn', { username, password });
  return tab;
}

/** A raw request with headers fetch will not let a caller set (Host). */
function rawPost(port: number, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json', ...headers } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (typeof value === 'string') responseHeaders.set(name, value);
          }
          resolve({ status: response.statusCode ?? 0, headers: responseHeaders, text, json: JSON.parse(text) });
        });
      },
    );
    request.on('error', reject);
    request.end('{}');
  });
}

/** Asserts every security header the host promises on every response. */
function expectSecurityHeaders(headers: Headers): void {
  // Spelled out rather than imported, so a weakened policy in the code fails here.
  expect(headers.get('content-security-policy')).toBe(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  );
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('x-frame-options')).toBe('DENY');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('cache-control')).toBe('no-store');
  expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(headers.get('cross-origin-resource-policy')).toBe('same-origin');
  expect(headers.get('x-powered-by')).toBeNull();
  expect(headers.get('server')).toBeNull();
}

describe('browser host: sessions over HTTP', () => {
  it('creates a clinic over HTTP', async () => {
    host = await startHost();
    const tab = new BrowserTab(host.url);
    expect(await tab.ok('setup.status')).toEqual({ state: 'new', clinicName: null });
    const { recoveryKey } = await setUpClinic(host.url);
    expect(recoveryKey).toMatch(/^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$/);
    expect(await tab.ok('setup.status')).toEqual({ state: 'ready', clinicName: 'Smile Dental' });
  });

  it('signs in with an HttpOnly SameSite=Strict cookie and a CSRF token, never the session token in JSON', async () => {
    host = await startHost();
    await setUpClinic(host.url);
    const reply = await new BrowserTab(host.url).call('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    expect(reply.status).toBe(200);
    const cookie = sessionCookie(reply.headers);
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(cookie?.attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/']));
    expect(reply.json.csrfToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(reply.json.csrfToken).not.toBe(cookie?.value);
    expect(reply.text).not.toContain(cookie?.value ?? 'no cookie was set');
  });

  it('answers a session call without the cookie with 401 UNAUTHENTICATED', async () => {
    host = await startHost();
    await setUpClinic(host.url);
    const reply = await new BrowserTab(host.url).call('auth.session');
    expect(reply.status).toBe(401);
    expect(envelope(reply).code).toBe('UNAUTHENTICATED');
  });

  it('refuses a call with the cookie but a missing or wrong x-csrf-token with 403 CSRF_REJECTED', async () => {
    host = await startHost();
    const { branchId } = await setUpClinic(host.url);
    const admin = await signedIn(host.url, 'admin', ADMIN_PASSWORD);
    const patient = { branchId, firstName: 'Meera', lastName: 'Iyer' };
    const missing = await admin.call('patients.create', patient, { csrf: null });
    expect(missing.status).toBe(403);
    expect(envelope(missing).code).toBe('CSRF_REJECTED');
    const wrong = await admin.call('patients.create', patient, { csrf: 'A'.repeat(43) });
    expect(wrong.status).toBe(403);
    expect(envelope(wrong).code).toBe('CSRF_REJECTED');
    // Neither refused call reached the core: no patient was registered.
    expect(await admin.ok('patients.search', { query: 'iyer' })).toEqual({ results: [], total: 0, capped: false });
    expect((await admin.call('patients.create', patient)).status).toBe(200);
  });

  it('asks for re-authentication after 5 minutes, then rotates the cookie and retires the old one', async () => {
    host = await startHost();
    const { branchId } = await setUpClinic(host.url);
    const admin = await signedIn(host.url, 'admin', ADMIN_PASSWORD);
    const newUser = {
      username: 'ravi',
      displayName: 'Ravi Rao',
      role: 'Receptionist',
      branchIds: [branchId],
      password: USER_PASSWORD,
    };
    host.clock.advance(6 * MINUTE);
    const stale = await admin.call('users.create', newUser);
    expect(stale.status).toBe(403);
    expect(envelope(stale).code).toBe('REAUTH_REQUIRED');

    const oldCookie = admin.cookie;
    const oldCsrf = admin.csrfToken;
    await admin.ok('auth.reauthenticate', { password: ADMIN_PASSWORD });
    expect(admin.cookie).toBeDefined();
    expect(admin.cookie).not.toBe(oldCookie);
    expect(admin.csrfToken).not.toBe(oldCsrf);
    expect((await admin.call('users.create', newUser)).status).toBe(200);

    const oldTab = new BrowserTab(host.url);
    oldTab.cookie = oldCookie;
    oldTab.csrfToken = oldCsrf;
    const withOld = await oldTab.call('auth.session');
    expect(withOld.status).toBe(401);
    expect(envelope(withOld).code).toBe('UNAUTHENTICATED');
  });

  it('clears the cookie on sign-out, after which the old cookie is refused', async () => {
    host = await startHost();
    await setUpClinic(host.url);
    const admin = await signedIn(host.url, 'admin', ADMIN_PASSWORD);
    const oldCookie = admin.cookie;
    const reply = await admin.call('auth.signOut');
    expect(reply.status).toBe(200);
    const cleared = sessionCookie(reply.headers);
    expect(cleared?.value).toBe('');
    expect(cleared?.attributes.some((attribute) => /^(Max-Age=0|Expires=Thu, 01 Jan 1970)/.test(attribute))).toBe(true);
    const replay = new BrowserTab(host.url);
    replay.cookie = oldCookie;
    replay.csrfToken = admin.csrfToken;
    expect((await replay.call('auth.session')).status).toBe(401);
  });

  it('lets a page that lost its CSRF token sign in again, ending the session it replaced', async () => {
    host = await startHost();
    await setUpClinic(host.url);
    const admin = await signedIn(host.url, 'admin', ADMIN_PASSWORD);
    const before = { cookie: admin.cookie, csrfToken: admin.csrfToken };
    // A reload: the cookie stays in the browser, the CSRF token was only in the page's memory.
    admin.csrfToken = undefined;
    const again = await admin.call('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    expect(again.status).toBe(200);
    expect(admin.cookie).not.toBe(before.cookie);
    expect((await admin.call('auth.session')).status).toBe(200);
    const replaced = new BrowserTab(host.url);
    Object.assign(replaced, before);
    expect((await replaced.call('auth.session')).status).toBe(401);
    // Ended in the core too, not only forgotten by the host: the audit trail records the sign-out.
    const signOuts = await admin.ok('audit.list', { action: 'auth.signOut' });
    expect(signOuts.entries).toEqual([expect.objectContaining({ action: 'auth.signOut', outcome: 'success' })]);
  });

  it("hides medical history from a Receptionist's patients.get and shows it to a Dentist", async () => {
    host = await startHost();
    const { branchId } = await setUpClinic(host.url);
    const admin = await signedIn(host.url, 'admin', ADMIN_PASSWORD);
    for (const [username, role] of [
      ['dr.sen', 'Dentist'],
      ['front.desk', 'Receptionist'],
    ] as const) {
      await admin.ok('users.create', {
        username,
        displayName: role,
        role,
        branchIds: [branchId],
        password: USER_PASSWORD,
      });
    }
    const dentist = await signedIn(host.url, 'dr.sen', USER_PASSWORD);
    const receptionist = await signedIn(host.url, 'front.desk', USER_PASSWORD);
    const patient = await dentist.ok('patients.create', { branchId, firstName: 'Kiran', lastName: 'Das' });
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies: [{ substance: 'Penicillin', severity: 'severe' }],
      conditions: [],
      medications: [],
    });

    const seenByDentist = await dentist.ok('patients.get', { patientId: patient.id });
    expect(seenByDentist.medicalHistory).toMatchObject({ allergies: [{ substance: 'Penicillin' }] });
    expect(seenByDentist.alerts).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'allergy' })]));

    const seenByFrontDesk = await receptionist.call('patients.get', { patientId: patient.id });
    expect(seenByFrontDesk.status).toBe(200);
    expect(seenByFrontDesk.json).toMatchObject({ firstName: 'Kiran', lastName: 'Das' });
    expect(seenByFrontDesk.json).not.toHaveProperty('medicalHistory');
    expect(seenByFrontDesk.json).not.toHaveProperty('alerts');
    expect(seenByFrontDesk.text).not.toContain('Penicillin');
  });
});

describe('browser host: errors', () => {
  it('answers invalid input with 400 and the envelope, without a stack', async () => {
    host = await startHost();
    const reply = await new BrowserTab(host.url).call('setup.createClinic', { clinicName: 42, extra: true });
    expect(reply.status).toBe(400);
    const error = envelope(reply);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(Object.keys(reply.json)).toEqual(['error']);
    expect(reply.text).not.toMatch(/stack|\bat .*\.ts:\d+/);
  });

  it('answers an unknown channel, another method and an unknown page with the 404 envelope', async () => {
    host = await startHost();
    const unknownChannel = await new BrowserTab(host.url).call('patients.delete');
    expect(unknownChannel.status).toBe(404);
    expect(envelope(unknownChannel).code).toBe('NOT_FOUND');
    for (const reply of [
      await readReply(await fetch(`${host.url}/api/setup.status`)),
      await readReply(await fetch(`${host.url}/no/such/page`)),
    ]) {
      expect(reply.status).toBe(404);
      expect(envelope(reply).code).toBe('NOT_FOUND');
    }
  });

  it('refuses malformed JSON, a non-JSON content type and a body over 1 MiB with the envelope', async () => {
    host = await startHost();
    const post = (body: string, contentType: string) =>
      fetch(`${host?.url}/api/setup.status`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const badJson = await readReply(await post('{"clinicName":', 'application/json'));
    expect(badJson.status).toBe(400);
    expect(envelope(badJson).code).toBe('VALIDATION_FAILED');
    const formPost = await readReply(await post('{}', 'text/plain'));
    expect(formPost.status).toBe(415);
    expect(envelope(formPost).code).toBe('VALIDATION_FAILED');
    const tooLarge = await readReply(await post(JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }), 'application/json'));
    expect(tooLarge.status).toBe(413);
    expect(envelope(tooLarge).code).toBe('VALIDATION_FAILED');
  });

  it('answers 429 with retryAfterMs and a Retry-After header once the rate limit is spent', async () => {
    host = await startHost({ rateLimits: { publicPerMinute: 3 } });
    await setUpClinic(host.url);
    const tab = new BrowserTab(host.url);
    expect((await tab.call('setup.status')).status).toBe(200);
    expect((await tab.call('setup.status')).status).toBe(200);
    const limited = await tab.call('setup.status');
    expect(limited.status).toBe(429);
    const error = envelope(limited);
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});

describe('browser host: transport hardening', () => {
  it('sends the security headers on a 200, a 4xx, a 404 and the page at /', async () => {
    host = await startHost();
    const tab = new BrowserTab(host.url);
    const ok = await tab.call('setup.status');
    expect(ok.status).toBe(200);
    const invalid = await tab.call('setup.status', { unexpected: 1 });
    expect(invalid.status).toBe(400);
    const missing = await readReply(await fetch(`${host.url}/missing`));
    expect(missing.status).toBe(404);
    const page = await readReply(await fetch(`${host.url}/`));
    expect(page.status).toBe(200);
    for (const reply of [ok, invalid, missing, page]) expectSecurityHeaders(reply.headers);
  });

  it('serves a placeholder page at / with no inline script', async () => {
    host = await startHost();
    const page = await readReply(await fetch(`${host.url}/`));
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.text).toContain("Chairside's API is running");
    expect(page.text).not.toMatch(/<script|<style|style=|on\w+=/i);
  });

  it('answers an undecodable URL and a malformed request line with the envelope and the headers', async () => {
    host = await startHost();
    const badUrl = await rawPost(host.port, '/api/%E0%A4%A', {});
    expect(badUrl.status).toBe(400);
    expect(envelope(badUrl).code).toBe('VALIDATION_FAILED');
    expectSecurityHeaders(badUrl.headers);

    const port = host.port;
    const raw = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = connect(port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head.toLowerCase()).toContain('x-content-type-options: nosniff');
    expect(head.toLowerCase()).toContain("content-security-policy: default-src 'self'");
    expect(apiErrorEnvelopeSchema.parse(JSON.parse(body)).error.code).toBe('VALIDATION_FAILED');
  });

  it('refuses a Host header other than 127.0.0.1 or localhost with its port (DNS rebinding)', async () => {
    host = await startHost();
    for (const foreign of ['evil.example', `evil.example:${host.port}`, `127.0.0.1:${host.port + 1}`]) {
      const reply = await rawPost(host.port, '/api/setup.status', { host: foreign });
      expect(reply.status).toBe(403);
      expect(envelope(reply).code).toBe('FORBIDDEN');
      expectSecurityHeaders(reply.headers);
    }
    expect((await rawPost(host.port, '/api/setup.status', { host: `localhost:${host.port}` })).status).toBe(200);
  });

  it('refuses an Origin header from another origin and accepts its own', async () => {
    host = await startHost();
    const post = (origin: string) =>
      fetch(`${host?.url}/api/setup.status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: '{}',
      });
    for (const origin of ['http://evil.example', 'null', `http://localhost:${host.port}`]) {
      const reply = await readReply(await post(origin));
      expect(reply.status).toBe(403);
      expect(envelope(reply).code).toBe('FORBIDDEN');
    }
    expect((await post(host.url)).status).toBe(200);
  });

  it('refuses to listen on any address but 127.0.0.1', async () => {
    const temp = tempDataDir();
    const core = await ClinicCore.open({ dataDir: temp.dir, keyProvider: testKeyProvider(), bcryptCost: 4 });
    const app = createBrowserHost(core);
    try {
      await expect(listenOnLoopback(app, { port: 0, host: '0.0.0.0' })).rejects.toThrow(/only listens on 127\.0\.0\.1/);
      expect(app.server.listening).toBe(false);
    } finally {
      await app.close();
      await core.close();
      temp.remove();
    }
  });

  it('serves a built renderer from staticDir without leaving the directory', async () => {
    const site = tempDataDir();
    mkdirSync(join(site.dir, 'build'));
    writeFileSync(join(site.dir, 'build', 'index.html'), '<!doctype html><title>Renderer</title>');
    writeFileSync(join(site.dir, 'build', 'app.js'), 'export {};');
    writeFileSync(join(site.dir, 'build', '.env'), 'SECRET=1');
    writeFileSync(join(site.dir, 'outside.txt'), 'not part of the build');
    try {
      host = await startHost({ staticDir: join(site.dir, 'build') });
      const index = await readReply(await fetch(`${host.url}/`));
      expect(index.text).toContain('Renderer');
      const script = await readReply(await fetch(`${host.url}/app.js`));
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expectSecurityHeaders(script.headers);
      for (const path of ['/.env', '/%2e%2e/outside.txt', '/..%2foutside.txt']) {
        const reply = await new Promise<number>((resolve, reject) => {
          httpRequest({ host: '127.0.0.1', port: host?.port, path, headers: { host: `127.0.0.1:${host?.port}` } })
            .on('response', (response) => {
              response.resume();
              resolve(response.statusCode ?? 0);
            })
            .on('error', reject)
            .end();
        });
        expect(reply).toBe(404);
      }
    } finally {
      site.remove();
    }
  });
});

/** A spawned CLI: its output so far, a wait for a line, and its exit. */
interface CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
  waitForListening(): Promise<string>;
}

/** Runs the real CLI as `npm run host` does (node + tsx), with only the given Chairside variables. */
function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CHAIRSIDE_')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'main/browser-host/cli.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    async waitForListening() {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && child.exitCode === null) {
        const match = /Chairside browser host listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(output);
        if (match?.[1] !== undefined) return match[1];
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the CLI did not start listening:\n${output}`);
    },
  };
}

/** Stops a CLI with SIGTERM and resolves to its exit code. */
async function stopCli(cli: CliProcess): Promise<number | null> {
  cli.child.kill('SIGTERM');
  return cli.exited;
}

function digestFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('browser host CLI', () => {
  const passphrase = 'first clinic passphrase';
  const otherPassphrase = 'a different passphrase';
  let spawned: CliProcess[] = [];
  let dirs: Array<{ remove(): void }> = [];
  afterEach(() => {
    for (const cli of spawned) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    for (const dir of dirs) dir.remove();
    spawned = [];
    dirs = [];
  });

  function run(args: string[], env: Record<string, string>): CliProcess {
    const cli = spawnCli(args, env);
    spawned.push(cli);
    return cli;
  }

  function newDataDir(): string {
    const temp = tempDataDir();
    dirs.push(temp);
    return join(temp.dir, 'clinic');
  }

  it('prints where it listens, answers setup.status and exits 0 on SIGTERM', async () => {
    const dataDir = newDataDir();
    const cli = run(['--data-dir', dataDir, '--port', '0'], { CHAIRSIDE_DB_PASSPHRASE: passphrase });
    const url = await cli.waitForListening();
    const tab = new BrowserTab(url);
    expect(await tab.ok('setup.status')).toEqual({ state: 'new', clinicName: null });
    expect(await stopCli(cli)).toBe(0);
  });

  it('refuses a wrong passphrase with a clear message, a non-zero exit and untouched files', async () => {
    const dataDir = newDataDir();
    const first = run(['--data-dir', dataDir, '--port', '0'], { CHAIRSIDE_DB_PASSPHRASE: passphrase });
    await setUpClinic(await first.waitForListening());
    expect(await stopCli(first)).toBe(0);
    const before = [digestFile(join(dataDir, 'clinic.db')), digestFile(join(dataDir, 'keys.json'))];

    const wrong = run(['--data-dir', dataDir, '--port', '0'], { CHAIRSIDE_DB_PASSPHRASE: otherPassphrase });
    const code = await wrong.exited;
    expect(code).not.toBe(0);
    expect(wrong.output()).toContain('The database passphrase is incorrect');
    expect(wrong.output()).not.toContain('listening');
    expect([digestFile(join(dataDir, 'clinic.db')), digestFile(join(dataDir, 'keys.json'))]).toEqual(before);
  });

  it('re-wraps the key for a new passphrase with --recover and the recovery key', async () => {
    const dataDir = newDataDir();
    const first = run(['--data-dir', dataDir, '--port', '0'], { CHAIRSIDE_DB_PASSPHRASE: passphrase });
    const { recoveryKey } = await setUpClinic(await first.waitForListening());
    expect(await stopCli(first)).toBe(0);

    const recovered = run(['--data-dir', dataDir, '--port', '0', '--recover'], {
      CHAIRSIDE_DB_PASSPHRASE: otherPassphrase,
      CHAIRSIDE_RECOVERY_KEY: recoveryKey,
    });
    const url = await recovered.waitForListening();
    expect(await new BrowserTab(url).ok('setup.status')).toEqual({ state: 'ready', clinicName: 'Smile Dental' });
    expect(await stopCli(recovered)).toBe(0);
  });

  it('exits non-zero with a clear message when the passphrase is missing or short', async () => {
    const dataDir = newDataDir();
    const missing = run(['--data-dir', dataDir], {});
    expect(await missing.exited).not.toBe(0);
    expect(missing.output()).toContain('CHAIRSIDE_DB_PASSPHRASE is not set');
    const short = run(['--data-dir', dataDir], { CHAIRSIDE_DB_PASSPHRASE: 'short' });
    expect(await short.exited).not.toBe(0);
    expect(short.output()).toContain('CHAIRSIDE_DB_PASSPHRASE must have at least 10 characters');
  });
});
