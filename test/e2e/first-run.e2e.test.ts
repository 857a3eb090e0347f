/**
 * The renderer in Chromium against a real clinic core and browser host: the served page obeys
 * the CSP, first-run setup with the one-time recovery key, sign-in, lockout after five wrong
 * passwords, and the inactivity lock.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import { ADMIN_PASSWORD, USER_PASSWORD } from '../support/clinic-fixture.js';
import {
  type PageWatch,
  type ServedClinic,
  describeInBrowser,
  launchChromium,
  openPage,
  recordCalls,
  screenshot,
  serveClinic,
  serveNewDevice,
  signIn,
  visible,
} from './support/e2e-harness.js';

const NEW_ADMIN_PASSWORD = 'Quiet-Harbour-Lantern-42';

describeInBrowser('renderer: first run, sign-in and locks', () => {
  let browser: Browser;
  let served: ServedClinic | undefined;
  let watch: PageWatch | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await watch?.context.close();
    await served?.close();
    watch = undefined;
    served = undefined;
  });

  it('serves a page with no inline script or style, under the strict CSP', async () => {
    served = await serveNewDevice();
    const response = await fetch(`${served.url}/`);
    const html = await response.text();
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toMatch(/\bsrc="\.\/assets\/[^"]+\.js"/);
    expect(html).not.toMatch(/<style\b/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).toMatch(/<link rel="stylesheet"[^>]*href="\.\/assets\/[^"]+\.css"/);
  });

  it('creates a clinic, shows the recovery key once, and never again after a reload', async () => {
    served = await serveNewDevice();
    watch = await openPage(browser);
    const { page } = watch;
    const calls = recordCalls(page);
    await page.goto(served.url);

    await visible(page.getByRole('heading', { name: 'Set up Chairside on this computer' }));
    // Joining is offered (test/e2e/sync-connect.e2e.test.ts); creating stays the default form.
    expect(await page.getByRole('button', { name: 'Join a clinic' }).isEnabled()).toBe(true);
    expect(await page.getByLabel('Clinic name').evaluate((input) => input === input.ownerDocument.activeElement)).toBe(
      true,
    );

    // Checked in the page with the shared schema and password policy: nothing is sent.
    await page.getByLabel('Clinic name').fill('Smile Dental');
    await page.getByLabel('First branch').fill('Main Street');
    await page.getByLabel('Username').fill('asha');
    await page.getByLabel('Your name').fill('Asha Rao');
    await page.getByLabel('Password', { exact: true }).fill('password123');
    await page.getByLabel('Password again').fill('something else');
    await page.getByRole('button', { name: 'Create clinic' }).click();
    await visible(page.getByText('This password is one of the most common passwords; choose another.'));
    await visible(page.getByText('The two passwords differ.'));
    expect(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(calls).not.toContain('setup.createClinic');
    await screenshot(page, 'first-run-validation');

    await page.getByLabel('Password', { exact: true }).fill(NEW_ADMIN_PASSWORD);
    await page.getByLabel('Password again').fill(NEW_ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Create clinic' }).click();

    const keyText = await (await visible(page.getByTestId('recovery-key'))).textContent();
    const recoveryKey = keyText?.trim() ?? '';
    expect(recoveryKey).toMatch(/^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$/);
    const continueButton = page.getByRole('button', { name: 'Continue to sign-in' });
    expect(await continueButton.isDisabled()).toBe(true);
    await screenshot(page, 'first-run-recovery-key');

    // Print shows the key alone; the Print button calls window.print.
    await page.emulateMedia({ media: 'print' });
    expect(await page.getByTestId('recovery-key').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Print the recovery key' }).isVisible()).toBe(false);
    expect(await page.getByLabel('I have stored the recovery key somewhere safe').isVisible()).toBe(false);
    expect(await page.getByRole('heading', { name: 'Store the recovery key' }).isVisible()).toBe(false);
    await screenshot(page, 'first-run-recovery-key-print');
    await page.emulateMedia({ media: 'screen' });
    await page.locator('body').evaluate((body) => {
      body.ownerDocument.defaultView.print = () => body.setAttribute('data-printed', 'yes');
    });
    await page.getByRole('button', { name: 'Print the recovery key' }).click();
    expect(await page.locator('body').getAttribute('data-printed')).toBe('yes');

    await page.getByLabel('I have stored the recovery key somewhere safe').check();
    await continueButton.click();
    await visible(page.getByRole('heading', { name: 'Sign in to Smile Dental' }));
    await visible(page.getByText('The clinic is ready.'));
    expect(await page.getByLabel('Username').inputValue()).toBe('asha');

    await page.reload();
    await visible(page.getByRole('heading', { name: 'Sign in to Smile Dental' }));
    expect(await page.content()).not.toContain(recoveryKey);
    expect(await page.getByTestId('recovery-key').count()).toBe(0);

    await signIn(page, 'asha', NEW_ADMIN_PASSWORD);
    await visible(page.getByText('Asha Rao'));
    expect(await page.content()).not.toContain(recoveryKey);
    watch.expectClean();
  });

  it('signs in, shows what the role may use, and signs out', async () => {
    const host = await serveClinic();
    served = host;
    watch = await openPage(browser);
    const { page } = watch;
    await page.goto(served.url);
    await visible(page.getByRole('heading', { name: 'Sign in to Smile Dental' }));

    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByText('The username or password is incorrect.'));

    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('heading', { name: 'Patients' }));
    // The search has the focus: the front desk types straight away.
    expect(
      await page.getByLabel('Find a patient').evaluate((input) => input === input.ownerDocument.activeElement),
    ).toBe(true);
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('button').allTextContents()).toEqual([
      'Patients',
      'Users',
      'Audit log',
      'Sync',
      'Conflicts',
    ]);
    await screenshot(page, 'sign-in-admin-home');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await visible(page.getByRole('heading', { name: 'Sign in to Smile Dental' }));

    // A Receptionist is offered neither user administration nor the audit log (sync and its inbox, yes).
    await host.clinic.asAdmin('users.create', {
      username: 'frontdesk',
      displayName: 'Ravi Front',
      role: 'Receptionist',
      branchIds: [host.clinic.branchId],
      password: USER_PASSWORD,
    });
    await signIn(page, 'frontdesk', USER_PASSWORD);
    expect(await nav.getByRole('button').allTextContents()).toEqual(['Patients', 'Sync', 'Conflicts']);
    await visible(page.getByRole('button', { name: 'New patient' }));
    watch.expectClean();
  });

  it('locks the account after five wrong passwords and says so', async () => {
    const host = await serveClinic();
    served = host;
    await host.clinic.asAdmin('users.create', {
      username: 'meera',
      displayName: 'Meera Dentist',
      role: 'Dentist',
      branchIds: [host.clinic.branchId],
      password: USER_PASSWORD,
    });
    watch = await openPage(browser);
    const { page } = watch;
    await page.goto(served.url);
    await (await visible(page.getByLabel('Username'))).fill('meera');
    const error = page.getByRole('alert');
    for (let attempt = 1; attempt <= 4; attempt++) {
      await page.getByLabel('Password', { exact: true }).fill(`Wrong-Guess-${attempt}-abc`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await visible(page.getByText('The username or password is incorrect.'));
      await page.getByRole('button', { name: 'Sign in' }).waitFor({ state: 'visible' });
      expect(await page.getByRole('button', { name: 'Sign in' }).isEnabled()).toBe(true);
    }
    await page.getByLabel('Password', { exact: true }).fill('Wrong-Guess-5-abc');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByText('Too many wrong passwords: this account is locked for a while.'));

    // The right password no longer opens it while the lockout lasts.
    await page.getByLabel('Password', { exact: true }).fill(USER_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(
      page.getByText(/^This account is locked after too many wrong passwords\. Try again in (\d+ seconds|1 minute)\.$/),
    );
    expect(await error.count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await screenshot(page, 'sign-in-locked-out');

    // The Admin sees the lockout in the user list and lifts it.
    await page.getByLabel('Username').fill('admin');
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Users' }).click();
    const row = page.locator('tr[data-username="meera"]');
    await visible(row.getByText(/^Locked until \d\d:\d\d$/));
    await screenshot(page, 'users-locked-user');
    await row.getByRole('button', { name: 'Unlock Meera Dentist' }).click();
    await visible(page.getByText('Meera Dentist can sign in again.'));
    await visible(row.getByText('Active'));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, 'meera', USER_PASSWORD);
    watch.expectClean();
  });

  it('shows the lock screen when main locked the session first, finishes the call after unlocking, and returns to sign-in when the session ends', async () => {
    // Main's clock is moved by hand: main locks and ends the session while the page's own
    // 15-minute timer has not fired.
    const clock = new ManualClock(Date.now());
    const host = await serveClinic({ sources: testSources('e2e-session', clock) });
    served = host;
    await host.clinic.asAdmin('patients.create', {
      branchId: host.clinic.branchId,
      firstName: 'Farah',
      lastName: 'Khan',
    });
    watch = await openPage(browser);
    const { page } = watch;
    const calls = recordCalls(page);
    await page.goto(served.url);
    await signIn(page, 'admin', ADMIN_PASSWORD);

    clock.advance(16 * 60_000);
    await page.getByLabel('Find a patient').fill('farah');
    const lock = page.getByRole('dialog', { name: 'Screen locked' });
    await visible(lock);
    expect(calls.filter((channel) => channel === 'patients.search')).toHaveLength(1);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await lock.waitFor({ state: 'hidden' });
    // The search main refused while locked ran again after the unlock.
    await visible(page.getByRole('option', { name: /Farah Khan/ }));
    expect(calls.filter((channel) => channel === 'patients.search')).toHaveLength(2);

    // Past the session's absolute lifetime (12 hours) the next call ends in the sign-in screen.
    clock.advance(13 * 60 * 60_000);
    await page.getByLabel('Find a patient').fill('khan');
    await visible(page.getByRole('heading', { name: 'Sign in to Smile Dental' }));
    await visible(page.getByText('Your session has ended; please sign in again.'));
    expect(await page.getByLabel('Username').inputValue()).toBe('admin');
    watch.expectClean();
  });

  it('locks the screen after the inactivity timeout, unlocks with the password, and switches user', async () => {
    const inactivityMs = 3_000;
    const host = await serveClinic({ sessionPolicy: { inactivityMs } });
    served = host;
    await host.clinic.asAdmin('users.create', {
      username: 'ravi',
      displayName: 'Ravi Front',
      role: 'Receptionist',
      branchIds: [host.clinic.branchId],
      password: USER_PASSWORD,
    });
    watch = await openPage(browser);
    const { page } = watch;
    const calls = recordCalls(page);
    await page.goto(served.url);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    const signedInAt = Date.now();

    const lock = page.getByRole('dialog', { name: 'Screen locked' });
    await lock.waitFor({ state: 'visible', timeout: inactivityMs + 5_000 });
    const lockedAfter = Date.now() - signedInAt;
    expect(lockedAfter).toBeGreaterThanOrEqual(inactivityMs - 500);
    expect(calls).toContain('auth.lock');
    // Nothing behind the lock screen can be reached: the app is not in the page at all.
    expect(await page.locator('.shell').count()).toBe(0);
    expect(await page.getByLabel('Password').evaluate((input) => input === input.ownerDocument.activeElement)).toBe(
      true,
    );
    await screenshot(page, 'inactivity-lock-screen');

    await page.getByLabel('Password').fill('Not-My-Password-99');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await visible(lock.getByText('That password is not right.'));
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await lock.waitFor({ state: 'hidden' });
    await visible(page.getByRole('button', { name: 'Sign out' }));

    // The session works again, and the timer runs again from the unlock.
    await page.getByLabel('Find a patient').fill('nobody');
    await visible(page.getByText('No patients match “nobody”.', { exact: false }));
    await lock.waitFor({ state: 'visible', timeout: inactivityMs + 5_000 });

    // Another person at the front desk: switch user signs the locked session out.
    await page.getByRole('button', { name: 'Switch user' }).click();
    await visible(page.getByRole('heading', { name: 'Sign in to Smile Dental' }));
    expect(await page.getByLabel('Username').inputValue()).toBe('');
    expect(calls).toContain('auth.signOut');
    await signIn(page, 'ravi', USER_PASSWORD);
    await visible(page.getByText('Ravi Front'));
    watch.expectClean();
  });
});
