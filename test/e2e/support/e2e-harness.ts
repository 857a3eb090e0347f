/**
 * What every end-to-end test needs: Debian's Chromium driven by playwright-core, a clinic core
 * served by its own browser host on a free loopback port with the built renderer, watchers that
 * fail a test on a CSP violation, a page error or an unexpected JavaScript dialog, and
 * screenshots in test-results/e2e/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Locator, type Page, chromium } from 'playwright-core';
import { describe, expect, inject, it } from 'vitest';
import type { RateLimitPolicy } from '../../../main/core/api/rate-limits.js';
import type { SessionPolicy } from '../../../main/core/auth/session-store.js';
import { ClinicCore } from '../../../main/core/clinic-core.js';
import { type Sources, systemSources } from '../../../main/core/platform/sources.js';
import type { SyncEngineOptions } from '../../../main/core/sync/sync-engine.js';
import { createBrowserHost, listenOnLoopback } from '../../../main/browser-host/server.js';
import { type TestClinic, createTestClinic, tempDataDir, testKeyProvider } from '../../support/clinic-fixture.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-results', 'e2e');

/** Rate limits out of the way: a test clicks faster than a receptionist. */
const TEST_RATE_LIMITS: Partial<RateLimitPolicy> = {
  readsPerMinute: 100_000,
  writesPerMinute: 100_000,
  publicPerMinute: 100_000,
};

/**
 * describe() for a browser suite. Without Chromium it fails in CI (CI=true) with the reason, so
 * a missing browser never passes silently there; elsewhere it is skipped with the reason in its name.
 */
export function describeInBrowser(name: string, suite: () => void): void {
  if (existsSync(CHROMIUM_PATH)) {
    describe(name, suite);
    return;
  }
  const reason = `Chromium is not installed at ${CHROMIUM_PATH} (install it with: apt-get install -y chromium)`;
  if (process.env.CI) {
    describe(name, () => {
      it('needs Chromium to run the end-to-end tests', () => {
        throw new Error(`${reason}. CI must run the end-to-end tests; .ci/run installs Chromium.`);
      });
    });
  } else {
    // Printed as well as put in the suite's name: the default reporter only counts skipped tests.
    console.warn(`Skipping "${name}": ${reason}.`);
    describe.skip(`${name} — skipped: ${reason}`, suite);
  }
}

/** Launches headless Chromium; one per test file, a fresh context per test. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** A clinic core behind a browser host that serves the built renderer. */
export interface ServedClinic {
  readonly url: string;
  readonly core: ClinicCore;
  close(): Promise<void>;
}

/** Serves a core on 127.0.0.1 with port 0 and the renderer built by the global setup. */
async function serve(core: ClinicCore): Promise<{ url: string; closeHost(): Promise<void> }> {
  const app = createBrowserHost(core, { staticDir: inject('rendererDir') });
  const { url } = await listenOnLoopback(app, { port: 0 });
  return { url, closeHost: () => app.close() };
}

/** A device with no clinic yet (first run); `sync` sets the sync engine's retries (the sync e2e tests). */
export async function serveNewDevice(options: { sync?: SyncEngineOptions } = {}): Promise<ServedClinic> {
  const temp = tempDataDir();
  const core = await ClinicCore.open({
    dataDir: temp.dir,
    keyProvider: testKeyProvider(),
    bcryptCost: 4,
    rateLimits: TEST_RATE_LIMITS,
    ...(options.sync ? { sync: options.sync } : {}),
  });
  const { url, closeHost } = await serve(core);
  return {
    url,
    core,
    async close() {
      await closeHost();
      await core.close();
      temp.remove();
    },
  };
}

/**
 * A set-up clinic (Admin `admin`, branch "Main Street"; test/support/clinic-fixture.ts) behind a
 * browser host. The system clock by default: the UI's timers and main's must agree.
 */
export async function serveClinic(
  options: { sessionPolicy?: Partial<SessionPolicy>; sources?: Sources; sync?: SyncEngineOptions } = {},
): Promise<ServedClinic & { clinic: TestClinic }> {
  const clinic = await createTestClinic({
    sources: options.sources ?? systemSources(),
    rateLimits: TEST_RATE_LIMITS,
    ...(options.sessionPolicy ? { sessionPolicy: options.sessionPolicy } : {}),
    ...(options.sync ? { sync: options.sync } : {}),
  });
  const { url, closeHost } = await serve(clinic.core);
  return {
    url,
    core: clinic.core,
    clinic,
    async close() {
      await closeHost();
      await clinic.close();
    },
  };
}

/** What a page did that a test must not let pass silently. */
export interface PageWatch {
  readonly page: Page;
  readonly context: BrowserContext;
  /** CSP violations reported by the page (securitypolicyviolation events) and by Chromium's console. */
  readonly cspViolations: string[];
  readonly pageErrors: string[];
  /** alert/confirm/prompt dialogs the page opened (dismissed). */
  readonly dialogs: string[];
  /** Asserts the page stayed clean: no CSP violation, no uncaught error, no JS dialog. */
  expectClean(): void;
}

/**
 * A fresh browser context and page with the watchers attached. The securitypolicyviolation
 * listener is injected by the driver before any page script, so the page's own CSP does not
 * apply to it.
 */
export async function openPage(browser: Browser): Promise<PageWatch> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  // A string: this runs in the page, and test/tsconfig.json offers Node's types, not the DOM's.
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (event) => {
      console.warn('csp-violation: ' + event.violatedDirective + ' ' + event.blockedURI);
    });`,
  });
  page.on('console', (message) => {
    const text = message.text();
    if (text.startsWith('csp-violation:') || text.includes('Content Security Policy')) cspViolations.push(text);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return {
    page,
    context,
    cspViolations,
    pageErrors,
    dialogs,
    expectClean() {
      expect(cspViolations, 'CSP violations').toEqual([]);
      expect(pageErrors, 'uncaught page errors').toEqual([]);
      expect(dialogs, 'JavaScript dialogs').toEqual([]);
    },
  };
}

/** Saves a full-page screenshot as test-results/e2e/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Waits until the locator is visible and returns it. */
export async function visible(locator: Locator): Promise<Locator> {
  await locator.waitFor({ state: 'visible' });
  return locator;
}

/** Signs in through the sign-in screen and waits for the signed-in app. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await (await visible(page.getByLabel('Username'))).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await visible(page.getByRole('button', { name: 'Sign out' }));
}

/** The names of the API channels the page called, in order. */
export function recordCalls(page: Page): string[] {
  const calls: string[] = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith('/api/')) calls.push(path.slice('/api/'.length));
  });
  return calls;
}
