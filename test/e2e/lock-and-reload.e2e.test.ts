/**
 * The lock screen and the session across a page reload, in Chromium against a real core and
 * browser host: while locked the page holds no patient data at all (what developer tools could
 * read), and a reload resumes the session the cookie holds, still under the inactivity lock.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ADMIN_PASSWORD, USER_PASSWORD } from '../support/clinic-fixture.js';
import {
  type PageWatch,
  type ServedClinic,
  describeInBrowser,
  launchChromium,
  openPage,
  serveClinic,
  signIn,
  visible,
} from './support/e2e-harness.js';

/** Everything the DOM holds: markup (attributes, hidden nodes) and the rendered text. */
async function wholePage(page: Page): Promise<string> {
  return page.evaluate('document.documentElement.outerHTML + "\\n" + document.body.innerText') as Promise<string>;
}

describeInBrowser('renderer: lock screen and reload', () => {
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

  it('keeps no patient name or alert in the page while locked, and brings the record back after unlocking', async () => {
    const host = await serveClinic();
    served = host;
    const dentist = await host.clinic.signedInUser('Dentist', { username: 'kavya' });
    const patient = await dentist.ok('patients.create', {
      branchId: host.clinic.branchId,
      firstName: 'Zarina',
      lastName: 'Quddus',
    });
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies: [{ substance: 'Chlorhexidine', severity: 'severe', reaction: 'Anaphylaxis' }],
      conditions: [],
      medications: [],
    });
    watch = await openPage(browser);
    const { page } = watch;
    await page.goto(served.url);
    await signIn(page, 'kavya', USER_PASSWORD);
    await page.getByLabel('Find a patient').fill('zarina');
    await visible(page.getByText('1 patient found.', { exact: false }));
    await page.getByLabel('Find a patient').press('Enter');
    await visible(page.getByRole('heading', { name: 'Zarina Quddus' }));
    await visible(page.getByTestId('medical-alerts').getByText('Chlorhexidine', { exact: false }));

    await page.getByRole('button', { name: 'Lock' }).click();
    await visible(page.getByRole('dialog', { name: 'Screen locked' }));
    const locked = await wholePage(page);
    for (const secret of ['Zarina', 'Quddus', 'Chlorhexidine', 'Anaphylaxis', patient.patientNumber]) {
      expect(locked, `"${secret}" in the locked page`).not.toContain(secret);
    }

    await page.getByLabel('Password').fill(USER_PASSWORD);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('dialog', { name: 'Screen locked' }).waitFor({ state: 'hidden' });
    // The user comes back to the record they were on.
    await visible(page.getByRole('heading', { name: 'Zarina Quddus' }));
    watch.expectClean();
  });

  it('keeps the session across a reload, and after the inactivity period a reload shows the lock screen', async () => {
    const inactivityMs = 4_000;
    const host = await serveClinic({ sessionPolicy: { inactivityMs } });
    served = host;
    await host.clinic.asAdmin('patients.create', {
      branchId: host.clinic.branchId,
      firstName: 'Yusuf',
      lastName: 'Oberoi',
    });
    watch = await openPage(browser);
    const { page } = watch;
    await page.goto(served.url);
    await signIn(page, 'admin', ADMIN_PASSWORD);

    await page.reload();
    await visible(page.getByRole('button', { name: 'Sign out' }));
    expect(await page.getByRole('heading', { name: /^Sign in/ }).count()).toBe(0);
    expect(await page.getByRole('dialog', { name: 'Screen locked' }).count()).toBe(0);
    // The resumed page acts as the session: a search goes through.
    await page.getByLabel('Find a patient').fill('yusuf');
    await visible(page.getByRole('option', { name: /Yusuf Oberoi/ }));

    // Past the inactivity period (no input), a reload resumes the session locked: no data shown.
    await page.waitForTimeout(inactivityMs + 1_000);
    await page.reload();
    const lock = page.getByRole('dialog', { name: 'Screen locked' });
    await visible(lock);
    expect(await wholePage(page)).not.toContain('Oberoi');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await lock.waitFor({ state: 'hidden' });
    await page.getByLabel('Find a patient').fill('oberoi');
    await visible(page.getByRole('option', { name: /Yusuf Oberoi/ }));
    watch.expectClean();
  });
});
