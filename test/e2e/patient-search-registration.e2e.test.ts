/**
 * The front desk's search and registration findings (issue 17), in Chromium: patient numbers
 * without prefix or padding, the count of matches with "Show more" by keyboard, phone by its last
 * digits or with the country code, dates of birth as the desk writes them and a bare year; at
 * registration a date of birth in the future is refused, and a patient already registered with
 * the same name, date of birth and phone is pointed out before the record is created.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { USER_PASSWORD } from '../support/clinic-fixture.js';
import {
  type PageWatch,
  type ServedClinic,
  describeInBrowser,
  launchChromium,
  openPage,
  recordCalls,
  screenshot,
  serveClinic,
  signIn,
  visible,
} from './support/e2e-harness.js';

const isFocused = (page: Page, selector: string) =>
  page.locator(selector).evaluate((element) => element === element.ownerDocument.activeElement);

describeInBrowser('renderer: patient search and registration at the front desk', () => {
  let browser: Browser;
  let served: (ServedClinic & Awaited<ReturnType<typeof serveClinic>>) | undefined;
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

  /** A clinic with a signed-in Receptionist; `seed` registers patients first, as the Admin. */
  async function frontDesk(seed: (register: (fields: Record<string, string>) => Promise<unknown>) => Promise<void>) {
    served = await serveClinic();
    const clinic = served.clinic;
    await clinic.asAdmin('users.create', {
      username: 'ravi',
      displayName: 'Ravi Front',
      role: 'Receptionist',
      branchIds: [clinic.branchId],
      password: USER_PASSWORD,
    });
    await seed((fields) =>
      clinic.asAdmin('patients.create', {
        branchId: clinic.branchId,
        firstName: 'Kiran',
        lastName: 'Sharma',
        ...fields,
      }),
    );
    watch = await openPage(browser);
    await watch.page.goto(served.url);
    await signIn(watch.page, 'ravi', USER_PASSWORD);
    return { page: watch.page, watch };
  }

  it('finds by number, phone end and date as typed, counts the matches and shows more by keyboard', async () => {
    const { page, watch } = await frontDesk(async (register) => {
      // P000001 to P000025: more Sharmas than one page holds.
      for (let i = 1; i <= 25; i++) await register({ firstName: `Kiran${i}` });
      await register({ firstName: 'Asha', lastName: 'Verma', phone: '7837827594', dateOfBirth: '2003-02-15' });
    });
    const search = page.getByLabel('Find a patient');
    const options = page.getByRole('option');
    const numbers = () => page.locator('.result-number').allTextContents();

    // The pointer rests where sign-in clicked, over the list: hovering a result highlights it, so move it away.
    await page.mouse.move(0, 0);
    await search.fill('sharma');
    await visible(page.getByText('25 patients found. Showing 20.', { exact: false }));
    expect(await options.count()).toBe(20);
    const showMore = page.getByRole('button', { name: 'Show 5 more' });
    await showMore.focus();
    await page.keyboard.press('Enter');
    await visible(page.getByText('25 patients found. Use the arrow keys', { exact: false }));
    expect(await options.count()).toBe(25);
    expect(await showMore.count()).toBe(0);
    // Back in the field, on the first of the new results, so the arrow keys go on from there.
    expect(await isFocused(page, '#patient-search')).toBe(true);
    expect(await options.nth(20).getAttribute('aria-selected')).toBe('true');
    await screenshot(page, 'patient-search-show-more');

    // Arrow Down on the last result of a page loads the next one.
    await search.fill('kiran');
    await visible(page.getByText('25 patients found. Showing 20.', { exact: false }));
    for (let i = 0; i < 19; i++) await search.press('ArrowDown');
    expect(await options.nth(19).getAttribute('aria-selected')).toBe('true');
    await search.press('ArrowDown');
    await visible(page.getByText('25 patients found. Use the arrow keys', { exact: false }));
    expect(await options.nth(20).getAttribute('aria-selected')).toBe('true');

    await search.fill('P12');
    await visible(options.first());
    expect((await numbers())[0]).toBe('P000012');

    for (const query of ['27594', '+91 78378 27594', '07837827594', '15-02-2003', '15 Feb 2003', '2003']) {
      await search.fill(query);
      await visible(page.getByText('1 patient found.', { exact: false }));
      expect(await page.locator('.result-name').allTextContents(), query).toEqual(['Asha Verma']);
    }
    watch.expectClean();
  });

  it('refuses a date of birth in the future and points out a patient already registered', async () => {
    const { page, watch } = await frontDesk(async (register) => {
      await register({ firstName: 'Asha', lastName: 'Sharma', dateOfBirth: '2003-02-15', phone: '+91 78378 27594' });
    });
    const calls = recordCalls(page);
    await page.getByRole('button', { name: 'New patient' }).click();
    await visible(page.getByRole('heading', { name: 'New patient' }));

    await page.getByLabel('First name').fill('Ravi');
    await page.getByLabel('Last name').fill('Kumar');
    await page.getByLabel('Date of birth').fill('2030-07-22');
    await page.getByRole('button', { name: 'Register patient' }).click();
    await visible(page.locator('#patient-dob-error').getByText('Date of birth cannot be in the future.'));
    expect(await isFocused(page, '#patient-dob')).toBe(true);
    expect(calls).not.toContain('patients.create');

    // The same person as P000001, typed in another case: the form says so before anything is created.
    const warning = page.getByText('Possible existing patient: P000001 Asha Sharma —', { exact: false });
    await page.getByLabel('First name').fill('asha');
    await page.getByLabel('Last name').fill('SHARMA');
    await page.getByLabel('Date of birth').fill('2003-02-15');
    await visible(warning);
    await page.getByLabel('Phone').fill('98450 11111');
    await warning.waitFor({ state: 'detached' });
    await page.getByLabel('Phone').fill('078378 27594');
    await visible(warning);
    expect(calls).not.toContain('patients.create');
    await screenshot(page, 'patient-form-possible-duplicate');

    // Opening it goes to the registered record.
    await page.getByRole('button', { name: 'open it?' }).click();
    await visible(page.getByRole('heading', { name: 'Asha Sharma' }));
    await visible(page.getByText('P000001'));

    // The desk can still register: it may be a different person after all.
    await page.getByRole('button', { name: '← Back to search' }).click();
    await page.getByRole('button', { name: 'New patient' }).click();
    await page.getByLabel('First name').fill('Asha');
    await page.getByLabel('Last name').fill('Sharma');
    await page.getByLabel('Date of birth').fill('2003-02-15');
    await visible(warning);
    await page.getByRole('button', { name: 'Register patient' }).click();
    await visible(page.getByText('Asha Sharma is registered as P000002.'));
    watch.expectClean();
  });
});
