/**
 * The conflicts inbox in Chromium: two computers of one clinic (browser-host cores joined through
 * a real sync server on loopback) each register the same person while apart and both change one
 * patient's phone; on B a Dentist who was made Staff on A registers a patient, which the server
 * refuses. After sync, A's inbox shows the possible duplicate side by side and the phone value
 * that lost, with when and on which computer; the Admin merges the pair from the keyboard
 * (survivor, reason, confirmation) and dismisses a pair of twins; B shows the refused change with
 * the server's reason; and the merge reaches B.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ADMIN_PASSWORD, TestCaller, USER_PASSWORD } from '../support/clinic-fixture.js';
import { FAST_SYNC, operatorClinic } from '../sync/sync-support.js';
import {
  describeInBrowser,
  launchChromium,
  openPage,
  screenshot,
  serveClinic,
  serveNewDevice,
  signIn,
  visible,
} from './support/e2e-harness.js';
import { startSyncServer } from './support/sync-server.js';

const TWINS = { firstName: 'Anita', lastName: 'Shah', dateOfBirth: '2001-07-09', phone: '98450 77777' };
const SAME_PERSON = { firstName: 'Ravi', lastName: 'Kumar', dateOfBirth: '1990-01-01', phone: '98450 33333' };

describeInBrowser('renderer: conflicts inbox', () => {
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

  it('shows duplicates, lost values and refused changes, and merges and dismisses pairs from the keyboard', async () => {
    const server = await startSyncServer();
    cleanup.push(() => server.close());
    const { code } = await operatorClinic(server.storage);
    const a = await serveClinic({ sync: FAST_SYNC });
    cleanup.push(() => a.close());
    await a.clinic.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: code });
    const shared = await a.clinic.asAdmin('patients.create', {
      branchId: a.clinic.branchId,
      firstName: 'Kavya',
      lastName: 'Rao',
      phone: '98450 44444',
    });
    const dentist = await a.clinic.signedInUser('Dentist', { allBranches: true, username: 'drmeera' });
    await a.clinic.asAdmin('sync.now', {});
    const { code: joinCode } = await a.clinic.asAdmin('devices.createEnrollmentCode', {});

    const b = await serveNewDevice({ sync: FAST_SYNC });
    cleanup.push(() => b.close());
    const onB = new TestCaller(b.core);
    await onB.ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: joinCode });
    await onB.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    const dentistOnB = new TestCaller(b.core);
    await dentistOnB.ok('auth.signIn', { username: 'drmeera', password: USER_PASSWORD });
    const branchOnB = (await onB.ok('branches.list', {})).branches[0]!.id;

    // While apart: the same person registered on both, and one phone changed on both (B later).
    await a.clinic.asAdmin('patients.create', { branchId: a.clinic.branchId, ...SAME_PERSON });
    await onB.ok('patients.create', { branchId: branchOnB, ...SAME_PERSON });
    await a.clinic.asAdmin('patients.update', { patientId: shared.id, phone: '98450 55555' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await onB.ok('patients.update', { patientId: shared.id, phone: '98450 66666' });
    // The Dentist becomes Staff on A; B has not heard yet and lets them register a patient,
    // which the server then refuses (Staff may not write patients).
    await a.clinic.asAdmin('users.update', { userId: dentist.userId, role: 'Staff' });
    await dentistOnB.ok('patients.create', { branchId: branchOnB, firstName: 'Dinesh', lastName: 'Patel' });
    for (const round of [() => a.clinic.asAdmin('sync.now', {}), () => onB.ok('sync.now', {})]) {
      expect((await round()).ok).toBe(true);
    }
    expect((await a.clinic.asAdmin('sync.now', {})).ok).toBe(true);
    // Twins registered on A alone: flagged too, and dismissed below as different people.
    for (let twin = 0; twin < 2; twin++) {
      await a.clinic.asAdmin('patients.create', { branchId: a.clinic.branchId, ...TWINS });
    }

    const { page, context, expectClean } = await openPage(browser);
    cleanup.push(() => context.close());
    await page.goto(a.url);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Conflicts' }).click();
    await visible(page.getByRole('heading', { name: 'Possible duplicate patients' }));
    expect(await page.locator('h1#conflicts-heading').evaluate((h) => h === h.ownerDocument.activeElement)).toBe(true);

    // Side by side: both records, two patient numbers (never one number twice), same details.
    expect(await page.getByTestId('duplicate-pair').count()).toBe(2);
    const pair = await visible(page.getByRole('listitem', { name: 'Possible duplicate: Ravi Kumar and Ravi Kumar' }));
    expect(await pair.getByText('Same name, date of birth and phone').count()).toBe(1);
    expect(await pair.getByRole('button', { name: 'Ravi Kumar', exact: true }).count()).toBe(2);
    const numbers = await pair
      .getByRole('row', { name: /Patient number/ })
      .getByRole('cell')
      .allTextContents();
    expect(numbers).toHaveLength(2);
    expect(numbers[0]).not.toBe(numbers[1]);
    expect(
      await pair
        .getByRole('row', { name: /Date of birth/ })
        .getByRole('cell')
        .allTextContents(),
    ).toEqual(['1 Jan 1990', '1 Jan 1990']);

    // The phone value that lost, beside the one kept, with when and on which computer.
    const lost = page.getByRole('row', { name: /Phone/ }).filter({ hasText: '98450 55555' });
    await visible(lost);
    expect(await lost.textContent()).toContain('98450 66666');
    expect(await lost.textContent()).toMatch(/on computer [0-9A-Z]{6}/);
    await visible(page.getByText('No refused changes.'));
    await screenshot(page, 'sync-conflicts-inbox');

    // Merge, by keyboard: the older record is offered as the one to keep; a reason is required.
    await pair.getByRole('button', { name: 'Merge Ravi Kumar and Ravi Kumar…' }).click();
    const dialog = await visible(page.getByRole('dialog', { name: 'Merge duplicate patients' }));
    const survivor = dialog.getByRole('radio', { checked: true });
    expect(await survivor.evaluate((radio) => radio === radio.ownerDocument.activeElement)).toBe(true);
    const keptLabel = (await dialog.locator('input[name="survivor"]:checked + label').textContent()) ?? '';
    await dialog.getByLabel('Reason').press('Enter');
    await visible(dialog.getByText('This field is required.'));
    await dialog.getByLabel('Reason').fill('Registered twice while the computers were apart');
    await dialog.getByLabel('Reason').press('Enter');
    const summary = await visible(dialog.getByText(/^Keep .* and merge .* into it\?/));
    expect(await summary.evaluate((p) => p === p.ownerDocument.activeElement)).toBe(true);
    expect(await summary.textContent()).toContain(keptLabel);
    await screenshot(page, 'sync-conflicts-merge-confirm');
    // Back returns to the choice with focus on it; Escape closes without merging.
    await dialog.getByRole('button', { name: 'Back' }).click();
    expect(await survivor.evaluate((radio) => radio === radio.ownerDocument.activeElement)).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.getByTestId('duplicate-pair').count()).toBe(2);

    await pair.getByRole('button', { name: 'Merge Ravi Kumar and Ravi Kumar…' }).click();
    await dialog.getByLabel('Reason').fill('Registered twice while the computers were apart');
    await dialog.getByLabel('Reason').press('Enter');
    await dialog.getByRole('button', { name: 'Merge records' }).press('Enter');
    await dialog.waitFor({ state: 'detached' });
    await visible(page.getByText(/Ravi Kumar \(.+\) is merged into /));
    expect(await page.getByTestId('duplicate-pair').count()).toBe(1);

    // The twins: "Not the same person", with a required note; both records stay.
    const twins = page.getByRole('listitem', { name: 'Possible duplicate: Anita Shah and Anita Shah' });
    await twins.getByRole('button', { name: 'Not the same person: Anita Shah and Anita Shah…' }).click();
    const dismiss = await visible(page.getByRole('dialog', { name: 'Not the same person?' }));
    const note = dismiss.getByLabel('How you know they differ');
    expect(await note.evaluate((input) => input === input.ownerDocument.activeElement)).toBe(true);
    await note.press('Enter');
    await visible(dismiss.getByText('This field is required.'));
    await note.fill('Twins; checked their ID at the desk');
    await note.press('Enter');
    await dismiss.waitFor({ state: 'detached' });
    await visible(page.getByText('Both records are kept as different people.'));
    await visible(page.getByText('No possible duplicates.'));
    await page.getByLabel('Show merged and dismissed pairs').check();
    const mergedPair = await visible(
      page.getByRole('listitem', { name: 'Possible duplicate: Ravi Kumar and Ravi Kumar' }),
    );
    await visible(
      page
        .getByRole('listitem', { name: 'Possible duplicate: Anita Shah and Anita Shah' })
        .getByText('Different people'),
    );
    await visible(mergedPair.getByText('Merged', { exact: true }).first());
    await screenshot(page, 'sync-conflicts-merged');

    // Both histories stay one step apart: the kept record lists the merged one, which points back.
    const keptNumber = /P[0-9-]+/.exec(keptLabel)?.[0] ?? '';
    const numberCells = await mergedPair
      .getByRole('row', { name: /Patient number/ })
      .getByRole('cell')
      .allTextContents();
    await mergedPair
      .getByRole('button', { name: 'Ravi Kumar', exact: true })
      .nth(numberCells.indexOf(keptNumber))
      .click();
    await visible(page.getByRole('heading', { name: 'Records merged into this one' }));
    await page.getByRole('button', { name: /^Ravi Kumar · / }).click();
    await visible(page.getByText('This record was merged into another one'));
    await page.getByRole('button', { name: 'Open the record it was merged into' }).click();
    await visible(page.getByText(keptNumber, { exact: true }));
    expectClean();

    // On B, the refused registration is shown with the server's reason, not hidden.
    const onPageB = await openPage(browser);
    cleanup.push(() => onPageB.context.close());
    const pageB = onPageB.page;
    await pageB.goto(b.url);
    await signIn(pageB, 'admin', ADMIN_PASSWORD);
    await pageB.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sync' }).click();
    expect(await (await visible(pageB.getByTestId('sync-refused'))).textContent()).toBe('1 change');
    await pageB.getByRole('button', { name: 'Review conflicts and refused changes' }).click();
    const refusedRow = await visible(pageB.getByRole('row').filter({ hasText: 'New record' }));
    expect(await refusedRow.textContent()).toContain('may not make this change any more');
    expect(await refusedRow.textContent()).toContain('forbidden');
    // The server's detail: the permission the author lacked.
    expect(await refusedRow.textContent()).toContain('patients.write');
    expect(await refusedRow.textContent()).toContain('First name');
    await screenshot(pageB, 'sync-conflicts-refused');
    onPageB.expectClean();

    // The merge replicates: B marks its pair merged too.
    expect((await a.clinic.asAdmin('sync.now', {})).ok).toBe(true);
    expect((await onB.ok('sync.now', {})).ok).toBe(true);
    const onBList = await onB.ok('conflicts.list', { includeResolved: true, limit: 200 });
    const ravi = onBList.duplicates.filter((entry) => entry.first.firstName === 'Ravi');
    expect(ravi.map((entry) => entry.status)).toEqual(['merged']);
  });
});
