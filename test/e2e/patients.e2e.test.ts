/**
 * Patients in the browser: register with field errors, search as you type with the keyboard,
 * edit, archive; the Dentist's medical history and alerts, which a Receptionist sees neither in
 * the page nor in the API answer; and a name made of markup that stays text.
 */
import type { Browser } from 'playwright-core';
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

describeInBrowser('renderer: patients', () => {
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

  /** A clinic with a user of the role, signed in through the page. */
  async function signedInAs(role: 'Receptionist' | 'Dentist', username: string, displayName: string) {
    served = await serveClinic();
    await served.clinic.asAdmin('users.create', {
      username,
      displayName,
      role,
      branchIds: [served.clinic.branchId],
      password: USER_PASSWORD,
    });
    watch = await openPage(browser);
    await watch.page.goto(served.url);
    await signIn(watch.page, username, USER_PASSWORD);
    return { served, watch, page: watch.page };
  }

  it('registers a patient with field errors first, finds them as you type, edits and archives them', async () => {
    const { served, watch, page } = await signedInAs('Receptionist', 'ravi', 'Ravi Front');
    const calls = recordCalls(page);
    // Another patient whose name starts the same way, registered at another desk.
    await served.clinic.asAdmin('patients.create', {
      branchId: served.clinic.branchId,
      firstName: 'Meenakshi',
      lastName: 'Rao',
      dateOfBirth: '1990-07-02',
      phone: '+91 80 2222 3333',
    });

    await page.getByRole('button', { name: 'New patient' }).click();
    await visible(page.getByRole('heading', { name: 'New patient' }));
    await page.getByLabel('Phone').fill('call me');
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByRole('button', { name: 'Register patient' }).click();
    const firstName = page.getByLabel('First name');
    await visible(page.locator('#patient-first-name-error').getByText('This field is required.'));
    await visible(page.locator('#patient-last-name-error').getByText('This field is required.'));
    await visible(page.locator('#patient-phone-error').getByText('Must be a phone number.'));
    await visible(page.locator('#patient-email-error').getByText('Enter an email address such as name@example.com.'));
    expect(await firstName.getAttribute('aria-invalid')).toBe('true');
    expect(await firstName.evaluate((input) => input === input.ownerDocument.activeElement)).toBe(true);
    expect(calls).not.toContain('patients.create');
    await screenshot(page, 'patient-form-errors');

    await firstName.fill('Meera');
    await page.getByLabel('Last name').fill('Iyer');
    await page.getByLabel('Date of birth').fill('1985-03-14');
    await page.getByLabel('Sex').selectOption('female');
    await page.getByLabel('Phone').fill('+91 98450 12345');
    await page.getByLabel('Email').fill('meera.iyer@example.com');
    await page.getByLabel('Address').fill('12 Temple Road\nMalleswaram, Bengaluru');
    await page.getByRole('button', { name: 'Register patient' }).click();
    await visible(page.getByRole('heading', { name: 'Meera Iyer' }));
    await visible(page.getByText(/^Meera Iyer is registered as P\d{6}\.$/));
    await visible(page.getByText('14 Mar 1985'));
    // Receptionists get no medical data at all, so no alerts section either.
    expect(await page.getByRole('heading', { name: 'Medical alerts' }).count()).toBe(0);
    await screenshot(page, 'patient-profile-receptionist');

    // Search as you type: results appear before the name is complete; keyboard picks and opens.
    await page.getByRole('button', { name: '← Back to search' }).click();
    const search = page.getByLabel('Find a patient');
    expect(await search.evaluate((input) => input === input.ownerDocument.activeElement)).toBe(true);
    await search.pressSequentially('mee', { delay: 40 });
    const options = page.getByRole('option');
    await visible(page.getByText('2 patients found.', { exact: false }));
    const names = await page.locator('.result-name').allTextContents();
    expect([...names].sort()).toEqual(['Meenakshi Rao', 'Meera Iyer']);
    expect(await options.nth(0).getAttribute('aria-selected')).toBe('true');
    await visible(options.filter({ hasText: 'Meera Iyer' }).getByText('+91 98450 12345'));
    await visible(options.filter({ hasText: 'Meera Iyer' }).getByText('14 Mar 1985'));
    await screenshot(page, 'patient-search');
    await search.press('ArrowDown');
    expect(await options.nth(1).getAttribute('aria-selected')).toBe('true');
    expect(await search.getAttribute('aria-activedescendant')).toBe(await options.nth(1).getAttribute('id'));
    await search.press('Enter');
    await visible(page.getByRole('heading', { name: names[1]! }));

    // Edit: only the changed field is sent.
    await page.getByRole('button', { name: '← Back to search' }).click();
    expect(await search.inputValue()).toBe('mee');
    await search.fill('iyer');
    await visible(page.getByText('1 patient found.', { exact: false }));
    await search.press('Enter');
    await visible(page.getByRole('heading', { name: 'Meera Iyer' }));
    await page.getByRole('button', { name: 'Edit details' }).click();
    await visible(page.getByRole('heading', { name: 'Edit Meera Iyer' }));
    await page.getByLabel('Phone').fill('12');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await visible(page.locator('#patient-phone-error').getByText('Must be a phone number.'));
    await page.getByLabel('Phone').fill('+91 99000 11122');
    const update = page.waitForRequest((request) => request.url().endsWith('/api/patients.update'));
    await page.getByRole('button', { name: 'Save changes' }).click();
    expect(Object.keys((await update).postDataJSON() as object).sort()).toEqual(['patientId', 'phone']);
    await visible(page.getByText('Changes saved.'));
    await visible(page.getByText('+91 99000 11122'));

    // Archive needs a reason, then leaves the default search.
    await page.getByRole('button', { name: 'Archive' }).click();
    const dialog = page.getByRole('dialog', { name: 'Archive Meera Iyer?' });
    await visible(dialog);
    expect(await page.getByLabel('Reason').evaluate((input) => input === input.ownerDocument.activeElement)).toBe(true);
    await dialog.getByRole('button', { name: 'Archive patient' }).click();
    await visible(dialog.getByText('This field is required.'));
    await page.getByLabel('Reason').fill('Moved to another city');
    await screenshot(page, 'patient-archive-dialog');
    await dialog.getByRole('button', { name: 'Archive patient' }).click();
    await dialog.waitFor({ state: 'detached' });
    await visible(page.getByText('The patient is archived.'));
    await visible(page.getByText(/^Archived /));
    expect(await page.getByRole('button', { name: 'Edit details' }).count()).toBe(0);

    await page.getByRole('button', { name: '← Back to search' }).click();
    await search.fill('99000');
    await visible(page.getByText('No patients match “99000”.', { exact: false }));
    watch.expectClean();
  });

  it('shows a Dentist the medical history and alerts, and a Receptionist neither on screen nor in the API answer', async () => {
    const { served, watch, page } = await signedInAs('Dentist', 'drmeera', 'Dr Meera Shah');
    const patient = await served.clinic.asAdmin('patients.create', {
      branchId: served.clinic.branchId,
      firstName: 'Arjun',
      lastName: 'Menon',
      dateOfBirth: '1972-11-30',
    });
    await served.clinic.asAdmin('users.create', {
      username: 'ravi',
      displayName: 'Ravi Front',
      role: 'Receptionist',
      branchIds: [served.clinic.branchId],
      password: USER_PASSWORD,
    });

    await page.getByLabel('Find a patient').fill('arjun');
    await visible(page.getByText('1 patient found.', { exact: false }));
    await page.getByLabel('Find a patient').press('Enter');
    await visible(page.getByRole('heading', { name: 'Arjun Menon' }));
    await visible(page.getByText('No medical alerts recorded.'));

    await page.getByRole('button', { name: 'Edit medical history' }).click();
    await page.getByRole('button', { name: 'Add allergy' }).click();
    expect(
      await page.locator('#allergy-0-substance').evaluate((input) => input === input.ownerDocument.activeElement),
    ).toBe(true);
    await page.getByRole('button', { name: 'Save medical history' }).click();
    await visible(page.locator('#allergy-0-substance-error').getByText('This field is required.'));
    await page.locator('#allergy-0-substance').fill('Penicillin');
    await page.locator('#allergy-0-severity').selectOption('severe');
    await page.locator('#allergy-0-reaction').fill('Hives');
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.locator('#condition-0-name').fill('Type 2 diabetes');
    await page.getByRole('button', { name: 'Add medication' }).click();
    await page.locator('#medication-0-name').fill('Warfarin');
    await page.locator('#medication-0-dose').fill('5 mg daily');
    await screenshot(page, 'medical-history-editor');
    const saved = page.waitForResponse((response) => response.url().endsWith('/api/patients.updateMedicalHistory'));
    await page.getByRole('button', { name: 'Save medical history' }).click();
    expect((await saved).status()).toBe(200);

    const alerts = page.getByTestId('medical-alerts');
    await visible(alerts.getByText('Medical alerts — 2 critical'));
    const critical = alerts.locator('.alert-critical');
    expect(await critical.locator('.alert-label').allTextContents()).toEqual([
      'Allergy: Penicillin',
      'Anticoagulant: Warfarin',
    ]);
    expect(await alerts.locator('.alert-warning .alert-label').allTextContents()).toEqual([
      'Condition: Type 2 diabetes',
    ]);
    await visible(page.getByText('Penicillin — severe — Hives'));
    await visible(page.getByText('Warfarin — 5 mg daily'));
    await screenshot(page, 'patient-profile-dentist-alerts');

    // The Dentist's own answer carries the history (so the check below is not vacuous).
    const dentistAnswer = page.waitForResponse((response) => response.url().endsWith('/api/patients.get'));
    await page.getByRole('button', { name: '← Back to search' }).click();
    await page.getByLabel('Find a patient').press('Enter');
    const dentistBody = (await (await dentistAnswer).json()) as Record<string, unknown>;
    expect(dentistBody).toHaveProperty('medicalHistory');
    expect(dentistBody).toHaveProperty('alerts');
    await visible(alerts);

    // The Receptionist at the same PC.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, 'ravi', USER_PASSWORD);
    await page.getByLabel('Find a patient').fill('menon');
    await visible(page.getByText('1 patient found.', { exact: false }));
    const receptionistAnswer = page.waitForResponse((response) => response.url().endsWith('/api/patients.get'));
    await page.getByLabel('Find a patient').press('Enter');
    const answer = await receptionistAnswer;
    const body = (await answer.json()) as Record<string, unknown>;
    expect(answer.status()).toBe(200);
    expect(body['id']).toBe(patient.id);
    expect(body).not.toHaveProperty('medicalHistory');
    expect(body).not.toHaveProperty('alerts');
    expect(JSON.stringify(body)).not.toMatch(/Penicillin|Warfarin|diabetes/i);
    await visible(page.getByRole('heading', { name: 'Arjun Menon' }));
    await visible(page.getByText('30 Nov 1972'));
    expect(await page.getByRole('heading', { name: 'Medical alerts' }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Medical history' }).count()).toBe(0);
    expect(await page.locator('body').innerText()).not.toMatch(/Penicillin|Warfarin|diabetes/i);
    await screenshot(page, 'patient-profile-receptionist-no-medical');
    watch.expectClean();
  });

  it('shows a patient named with markup as text and runs none of it', async () => {
    const markup = '<img src=x onerror=alert(1)>';
    const { watch, page } = await signedInAs('Receptionist', 'ravi', 'Ravi Front');
    await page.getByRole('button', { name: 'New patient' }).click();
    await page.getByLabel('First name').fill(markup);
    await page.getByLabel('Last name').fill('<b>Bold</b>');
    await page.getByRole('button', { name: 'Register patient' }).click();
    const heading = page.getByRole('heading', { level: 1 });
    await visible(heading.getByText(`${markup} <b>Bold</b>`));
    expect(await heading.textContent()).toBe(`${markup} <b>Bold</b>`);

    await page.getByRole('button', { name: '← Back to search' }).click();
    await page.getByLabel('Find a patient').fill('img onerror');
    await visible(page.getByText('1 patient found.', { exact: false }));
    expect(await page.locator('.result-name').first().textContent()).toBe(`${markup} <b>Bold</b>`);
    // Nothing in the page became an element: the app renders no images and no <b>.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('main b').count()).toBe(0);
    await screenshot(page, 'patient-markup-name');
    watch.expectClean();

    // The watchers do see what the CSP blocks: an inline handler injected into the page neither
    // runs nor goes unreported.
    await page.locator('body').evaluate((body) => {
      body.insertAdjacentHTML('beforeend', '<img src="x" onerror="document.title = \'ran\'">');
    });
    await expect.poll(() => watch.cspViolations.length).toBeGreaterThan(0);
    expect(await page.title()).toBe('Chairside');
    expect(watch.dialogs).toEqual([]);
  });
});
