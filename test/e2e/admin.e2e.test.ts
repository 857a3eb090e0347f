/**
 * Administration in the browser: the re-authentication prompt for sensitive channels (and the
 * retry after it), user administration, and the audit log with its filters, paging and the
 * chain-verification badge, which turns red when the stored chain is tampered with.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import { ADMIN_PASSWORD, USER_PASSWORD } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import {
  type PageWatch,
  describeInBrowser,
  launchChromium,
  openPage,
  recordCalls,
  screenshot,
  serveClinic,
  signIn,
  visible,
} from './support/e2e-harness.js';

const MINUTE = 60_000;

describeInBrowser('renderer: administration', () => {
  let browser: Browser;
  let served: Awaited<ReturnType<typeof serveClinic>> | undefined;
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

  it('asks for the password again once the re-authentication window has passed, then completes the call', async () => {
    // Main's clock is moved by hand here; the page's inactivity timer (15 minutes) never fires.
    const clock = new ManualClock(Date.now());
    served = await serveClinic({ sources: testSources('e2e-reauth', clock) });
    watch = await openPage(browser);
    const { page } = watch;
    const calls = recordCalls(page);
    await page.goto(served.url);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('button', { name: 'Users' }).click();
    await visible(page.locator('tr[data-username="admin"]'));

    clock.advance(6 * MINUTE);
    await page.getByRole('button', { name: 'New user' }).click();
    const dialog = page.getByRole('dialog', { name: 'New user' });
    await visible(dialog);
    await dialog.getByLabel('Name', { exact: true }).fill('Nisha Hygienist');
    await dialog.getByLabel('Username').fill('nisha');
    await dialog.getByLabel('Role').selectOption('Staff');
    await dialog.getByLabel('Password', { exact: true }).fill('nisha-password-1');
    await dialog.getByLabel('Password again').fill('nisha-password-1');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await visible(dialog.getByText('The password must not contain the username.'));
    await dialog.getByLabel('Password', { exact: true }).fill(USER_PASSWORD);
    await dialog.getByLabel('Password again').fill(USER_PASSWORD);
    await dialog.getByRole('button', { name: 'Create user' }).click();

    const reauth = page.getByRole('dialog', { name: 'Confirm your password' });
    await visible(reauth);
    expect(calls.filter((channel) => channel === 'users.create')).toHaveLength(1);
    await screenshot(page, 'reauth-dialog');
    await reauth.getByLabel('Password').fill('Not-The-Admin-Password');
    await reauth.getByRole('button', { name: 'Confirm' }).click();
    await visible(reauth.getByText('That password is not right.'));
    await reauth.getByLabel('Password').fill(ADMIN_PASSWORD);
    await reauth.getByRole('button', { name: 'Confirm' }).click();
    await reauth.waitFor({ state: 'detached' });

    // The refused call ran again after the confirmation, once.
    await visible(page.getByText('Nisha Hygienist can now sign in as nisha.'));
    expect(calls.filter((channel) => channel === 'users.create')).toHaveLength(2);
    const row = page.locator('tr[data-username="nisha"]');
    await visible(row.getByText('Staff'));
    await visible(row.getByText('Main Street'));

    // Within the window, no prompt: change the role, then disable the account.
    // Each action's accessible name contains its visible text (axe's label-content-name-mismatch).
    expect(
      await row.getByRole('button', { name: 'Reset password for Nisha Hygienist', exact: true }).textContent(),
    ).toBe('Reset password');
    await row.getByRole('button', { name: 'Change role or branches of Nisha Hygienist' }).click();
    const change = page.getByRole('dialog', { name: 'Change Nisha Hygienist' });
    await change.getByLabel('Role').selectOption('Dentist');
    await change.getByRole('button', { name: 'Save' }).click();
    await visible(page.getByText('Nisha Hygienist is saved.'));
    await visible(row.getByText('Dentist'));
    await row.getByRole('button', { name: 'Disable Nisha Hygienist' }).click();
    await page
      .getByRole('dialog', { name: 'Disable Nisha Hygienist?' })
      .getByRole('button', { name: 'Disable user' })
      .click();
    await visible(row.getByText('Disabled'));
    await screenshot(page, 'users-admin');

    // Cancelling the prompt leaves the call refused, with a plain message.
    clock.advance(6 * MINUTE);
    await nav.getByRole('button', { name: 'Audit log' }).click();
    await visible(reauth);
    await reauth.getByRole('button', { name: 'Cancel' }).click();
    await visible(page.getByText('The audit log needs your password confirmed.', { exact: false }));
    await page.getByRole('button', { name: 'Show entries' }).click();
    await reauth.getByLabel('Password').fill(ADMIN_PASSWORD);
    await reauth.getByRole('button', { name: 'Confirm' }).click();
    await visible(page.locator('tr[data-action="users.create"]').first());
    watch.expectClean();
  });

  it('shows the actions just taken in the audit log, filters and pages it, and verifies the chain', async () => {
    served = await serveClinic();
    const { clinic } = served;
    // Enough history for a second page (50 entries a page).
    for (let i = 0; i < 60; i++) await clinic.admin.ok('patients.search', { query: `p${i}` });
    watch = await openPage(browser);
    const { page } = watch;
    await page.goto(served.url);

    // A denied attempt, then the Admin registers a patient through the page.
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('Wrong-Password-123');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByText('The username or password is incorrect.'));
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'New patient' }).click();
    await page.getByLabel('First name').fill('Kavya');
    await page.getByLabel('Last name').fill('Nair');
    const created = page.waitForResponse((response) => response.url().endsWith('/api/patients.create'));
    await page.getByRole('button', { name: 'Register patient' }).click();
    const patientId = ((await (await created).json()) as { id: string }).id;
    await visible(page.getByRole('heading', { name: 'Kavya Nair' }));

    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Audit log' }).click();
    const badge = page.getByTestId('chain-status');
    await visible(badge.getByText(/^Chain verified — \d+ entries$/));
    const verified = Number(/(\d+) entries/.exec((await badge.textContent()) ?? '')?.[1]);
    expect(verified).toBeGreaterThan(60);

    const rows = page.locator('tbody tr');
    await visible(page.locator('tr[data-action="patients.create"]'));
    expect(await rows.count()).toBe(50);
    const newest = await rows.locator('td:nth-child(4)').allTextContents();
    // Newest first: the verify, then what the page just did.
    expect(newest.slice(0, 8)).toEqual(
      expect.arrayContaining(['audit.verify', 'patients.get', 'patients.create', 'auth.signIn', 'branches.list']),
    );
    const createRow = page.locator('tr[data-action="patients.create"]');
    await visible(createRow.getByText('Asha Admin'));
    await visible(createRow.getByText(patientId));
    await screenshot(page, 'audit-log');

    // Paging backwards with nextBefore.
    await page.getByRole('button', { name: 'Show older entries' }).click();
    await expect.poll(() => rows.count()).toBeGreaterThan(50);
    const seqs = (await rows.locator('td:nth-child(1)').allTextContents()).map(Number);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.at(-1)).toBe(1);
    expect(await page.getByRole('button', { name: 'Show older entries' }).count()).toBe(0);

    // Filters: action, outcome, entity id.
    await page.getByLabel('Action').selectOption('patients.create');
    await page.getByRole('button', { name: 'Show entries' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-action')).toBe('patients.create');

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Outcome').selectOption('denied');
    await page.getByRole('button', { name: 'Show entries' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await visible(rows.first().getByText('Denied'));
    expect(await rows.first().getAttribute('data-action')).toBe('auth.signIn');

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Entity id').fill(patientId);
    await page.getByRole('button', { name: 'Show entries' }).click();
    await expect
      .poll(async () => (await rows.evaluateAll((all) => all.map((row) => row.getAttribute('data-action')))).sort())
      .toEqual(['patients.create', 'patients.get']);

    await page.getByLabel('Entity id').fill('01HZZZZZZZZZZZZZZZZZZZZZZZ');
    await page.getByRole('button', { name: 'Show entries' }).click();
    await visible(page.getByText('No entries match these filters.'));
    watch.expectClean();

    // Someone edits an entry behind the app's back: the badge says where the chain breaks.
    const raw = await openRawDatabase(clinic.dataDir);
    try {
      raw.exec('DROP TRIGGER audit_log_no_update;');
      raw.prepare("UPDATE audit_log SET body = json_set(body, '$.outcome', 'denied') WHERE seq = 3").run();
    } finally {
      raw.close();
    }
    await page.getByRole('button', { name: 'Verify again' }).click();
    await visible(badge.getByText('Chain broken at sequence 3'));
    await screenshot(page, 'audit-chain-broken');
  });
});
