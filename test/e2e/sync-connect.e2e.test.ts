/**
 * The Sync screen and joining a clinic, in Chromium against real browser hosts and a real sync
 * server on loopback HTTP: an Admin connects an offline clinic from the UI (bad address and bad
 * code refused in words, Escape and Enter in the dialog), sees the state and counts, syncs now,
 * and makes a one-time code shown once and copyable; a fresh computer joins with that code
 * through the first-run screen (unreachable server, refused code and rate limit shown as such),
 * and A's Admin signs in there and finds A's patients.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { GENEROUS_RATE_LIMITS } from '../support/sync-server/test-support.js';
import { ADMIN_PASSWORD } from '../support/clinic-fixture.js';
import { FAST_SYNC, operatorClinic } from '../sync/sync-support.js';
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
import { type BrowserTestSyncServer, startSyncServer } from './support/sync-server.js';

/** True when the locator's element has focus. */
async function hasFocus(page: Page, selector: Parameters<Page['locator']>[0]): Promise<boolean> {
  return page.locator(selector).evaluate((element) => element === element.ownerDocument.activeElement);
}

describeInBrowser('renderer: Sync screen and joining a clinic', () => {
  let browser: Browser;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function open(): Promise<PageWatch> {
    const watch = await openPage(browser);
    cleanup.push(() => watch.context.close());
    return watch;
  }
  function track<T extends ServedClinic | BrowserTestSyncServer>(resource: T): T {
    cleanup.push(() => resource.close());
    return resource;
  }

  it('connects a clinic from the Sync screen, syncs it, makes a code, and a fresh computer joins with it', async () => {
    const server = track(await startSyncServer());
    const { clinicId, code: operatorCode } = await operatorClinic(server.storage);
    const a = track(await serveClinic({ sync: FAST_SYNC }));

    const watchA = await open();
    const pageA = watchA.page;
    const callsA = recordCalls(pageA);
    await pageA.goto(a.url);
    await signIn(pageA, 'admin', ADMIN_PASSWORD);
    await pageA.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sync' }).click();
    await visible(pageA.getByRole('heading', { name: 'Not connected' }));
    expect(await hasFocus(pageA, 'h1#sync-heading')).toBe(true);
    // Nothing to send before connecting: no "Sync now".
    expect(await pageA.getByRole('button', { name: 'Sync now' }).count()).toBe(0);

    // The dialog: focus on the address, Escape closes it and focus returns to its button.
    const connectButton = pageA.getByRole('button', { name: 'Connect to a sync server' });
    await connectButton.click();
    const dialog = await visible(pageA.getByRole('dialog', { name: 'Connect this clinic to a sync server' }));
    expect(await hasFocus(pageA, '#connect-server-url')).toBe(true);
    await pageA.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await connectButton.evaluate((element) => element === element.ownerDocument.activeElement)).toBe(true);

    // Keyboard only: Enter opens it again and submits it; a bad address is refused before sending.
    await pageA.keyboard.press('Enter');
    await visible(dialog);
    await pageA.keyboard.type('ftp://sync.example.com');
    await pageA.keyboard.press('Tab');
    await pageA.keyboard.type('ABCDE');
    await pageA.keyboard.press('Enter');
    await visible(dialog.getByText('This is not a sync server address.'));
    expect(await hasFocus(pageA, '#connect-server-url')).toBe(true);
    expect(callsA).not.toContain('sync.connect');

    // A code the server does not know: said on the code field.
    await dialog.getByLabel('Server address').fill(server.url);
    await dialog.getByLabel('Enrollment code').fill('AAAAA-BBBBB-CCCCC-DDDDD');
    await dialog.getByLabel('Enrollment code').press('Enter');
    await visible(dialog.getByText('The sync server did not accept this code'));
    expect(await dialog.getByLabel('Enrollment code').getAttribute('aria-invalid')).toBe('true');
    await screenshot(pageA, 'sync-connect-refused-code');

    // The operator's code: connected, everything queued, and a first round runs at once.
    await dialog.getByLabel('Enrollment code').fill(operatorCode);
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await dialog.waitFor({ state: 'detached' });
    await visible(pageA.getByText(`Connected to ${server.url}.`));
    await visible(pageA.getByText('Sync finished.'));
    await visible(pageA.getByText('Online'));
    expect(await pageA.getByTestId('sync-pending').textContent()).toBe('0 changes');
    expect(await pageA.getByTestId('sync-refused').textContent()).toBe('0 changes');
    expect(await pageA.getByTestId('sync-conflicts').textContent()).toBe('0 conflicts');
    await screenshot(pageA, 'sync-connected');

    // A new patient waits until "Sync now" (pressed from the keyboard) sends it.
    await a.clinic.asAdmin('patients.create', {
      branchId: a.clinic.branchId,
      firstName: 'Meera',
      lastName: 'Krishnan',
      dateOfBirth: '1985-03-14',
      phone: '98450 11111',
    });
    await pageA.getByRole('button', { name: 'Refresh' }).click();
    await visible(pageA.getByTestId('sync-pending').getByText('1 change', { exact: true }));
    await pageA.getByRole('button', { name: 'Sync now' }).focus();
    await pageA.keyboard.press('Enter');
    await visible(pageA.getByText(/^Sync finished\. Sent 1 change, /));
    await visible(pageA.getByTestId('sync-pending').getByText('0 changes'));
    const stored = await (await server.storage.clinic(clinicId)).pullChanges({ after: 0, limit: 1000 });
    expect(stored.changes.some((change) => change.fields['last_name'] === 'Krishnan')).toBe(true);

    // A code for another computer: shown once, with its expiry, and copyable.
    await watchA.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: a.url });
    await pageA.getByRole('button', { name: 'Make an enrollment code' }).click();
    const codeText = (await (await visible(pageA.getByTestId('enrollment-code'))).textContent())?.trim() ?? '';
    expect(codeText).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);
    await visible(pageA.getByText('Works once, until'));
    await pageA.getByRole('button', { name: 'Copy the code' }).click();
    await visible(pageA.getByText('Copied.'));
    expect(await pageA.evaluate('navigator.clipboard.readText()')).toBe(codeText);
    await screenshot(pageA, 'sync-enrollment-code');
    // Leaving the screen forgets it.
    await pageA.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Patients' }).click();
    await pageA.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sync' }).click();
    await visible(pageA.getByRole('heading', { name: 'Add another computer' }));
    expect(await pageA.getByTestId('enrollment-code').count()).toBe(0);
    watchA.expectClean();

    // A fresh computer joins through the first-run screen.
    const b = track(await serveNewDevice({ sync: FAST_SYNC }));
    const watchB = await open();
    const pageB = watchB.page;
    await pageB.goto(b.url);
    await visible(pageB.getByRole('heading', { name: 'Set up Chairside on this computer' }));
    await pageB.getByRole('button', { name: 'Join a clinic' }).click();
    expect(await hasFocus(pageB, '#join-server-url')).toBe(true);
    const joinButton = pageB.getByRole('button', { name: 'Join clinic' });

    await joinButton.click();
    expect(await pageB.locator('#join-server-url-error').textContent()).toBe('This field is required.');
    expect(await pageB.locator('#join-enrollment-code-error').textContent()).toBe('This field is required.');

    // Nothing listens on port 1: unreachable, said on the address.
    await pageB.getByLabel('Server address').fill('http://127.0.0.1:1');
    await pageB.getByLabel('Enrollment code').fill(codeText);
    await joinButton.click();
    await visible(pageB.getByText('The sync server could not be reached at this address'));
    await screenshot(pageB, 'sync-join-unreachable');

    // A server that blocks an address after one failure: refused code, then rate-limited.
    const strict = track(
      await startSyncServer({
        rateLimits: { ...GENEROUS_RATE_LIMITS, failuresPerAddress: { points: 1, durationS: 60, blockS: 300 } },
      }),
    );
    await pageB.getByLabel('Server address').fill(strict.url);
    await joinButton.click();
    await visible(pageB.getByText('The sync server did not accept this code'));
    await joinButton.click();
    await visible(
      pageB.getByText(
        /^Too many attempts: The sync server asks to wait before trying again\. Try again in 5 minutes\.$/,
      ),
    );
    await screenshot(pageB, 'sync-join-rate-limited');

    // The real server and A's code: the records arrive, then the recovery key and sign-in.
    await pageB.getByLabel('Server address').fill(server.url);
    await joinButton.click();
    const recoveryKey = await visible(pageB.getByTestId('recovery-key'));
    expect((await recoveryKey.textContent())?.trim()).toMatch(/^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$/);
    await pageB.getByLabel('I have stored the recovery key somewhere safe').check();
    await pageB.getByRole('button', { name: 'Continue to sign-in' }).click();
    await visible(pageB.getByRole('heading', { name: 'Sign in to Smile Dental' }));
    await visible(pageB.getByText('This computer has joined the clinic and stored'));
    await screenshot(pageB, 'sync-join-sign-in');

    // A's Admin signs in with the same password and finds A's patients.
    await signIn(pageB, 'admin', ADMIN_PASSWORD);
    await pageB.getByLabel('Find a patient').fill('krish');
    await visible(pageB.getByRole('option', { name: /Meera Krishnan/ }));
    await pageB.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sync' }).click();
    await visible(pageB.getByText(server.url, { exact: true }).first());
    await screenshot(pageB, 'sync-joined-status');
    watchB.expectClean();
  });
});
