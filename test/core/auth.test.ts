import { afterEach, describe, expect, it } from 'vitest';
import { openRawDatabase } from '../support/raw-database.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
} from '../support/clinic-fixture.js';
import { bcryptCostOf } from '../../main/core/auth/password-hasher.js';

let clinic: TestClinic | undefined;
afterEach(async () => {
  await clinic?.close();
  clinic = undefined;
});

const MINUTE = 60_000;

async function failSignIn(caller: TestCaller, username: string, times: number): Promise<string[]> {
  const codes: string[] = [];
  for (let i = 0; i < times; i++)
    codes.push(await caller.errorCode('auth.signIn', { username, password: 'Wrong-Password-123' }));
  return codes;
}

describe('passwords', () => {
  it('stores bcrypt hashes of cost 12 by default', async () => {
    clinic = await createTestClinic({ bcryptCost: undefined });
    const raw = await openRawDatabase(clinic.dataDir);
    const { password_hash: hash } = raw.prepare("SELECT password_hash FROM users WHERE username = 'admin'").get() as {
      password_hash: string;
    };
    raw.close();
    expect(hash).toMatch(/^\$2[ab]\$12\$/);
    expect(bcryptCostOf(hash)).toBe(12);
    expect(hash).not.toContain(ADMIN_PASSWORD);
  });

  it.each([
    ['shorter than 10 characters', 'Short-1a', /at least 10/],
    ['one of the common passwords', 'password123', /common/],
    ['containing the username', 'newuser-is-great', /username/],
    ['longer than bcrypt reads (72 bytes)', 'é'.repeat(40), /72 bytes/],
  ])('refuses a password %s with a clear message', async (_case, password, message) => {
    clinic = await createTestClinic();
    const result = await clinic.admin.call('users.create', {
      username: 'newuser',
      displayName: 'New',
      role: 'Staff',
      branchIds: [clinic.branchId],
      password,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'PASSWORD_REJECTED', message } });
  });

  it('accepts a 64-character passphrase', async () => {
    clinic = await createTestClinic();
    const password = 'correct horse battery staple and a long walk on the beach at dusk'.slice(0, 64);
    const user = await clinic.asAdmin('users.create', {
      username: 'longpass',
      displayName: 'Long',
      role: 'Staff',
      branchIds: [clinic.branchId],
      password,
    });
    expect(user.username).toBe('longpass');
    await new TestCaller(clinic.core).ok('auth.signIn', { username: 'longpass', password });
  });

  it('changes a password only with the current one, and ends the user’s other sessions', async () => {
    clinic = await createTestClinic();
    const first = await clinic.signedInUser('Dentist', { username: 'dr-rao' });
    const second = new TestCaller(clinic.core, 'other-pc');
    await second.ok('auth.signIn', { username: 'dr-rao', password: USER_PASSWORD });
    expect(
      await first.errorCode('auth.changePassword', {
        currentPassword: 'Not-The-Password-1',
        newPassword: 'Fresh-Enamel-Secret-7',
      }),
    ).toBe('INVALID_CREDENTIALS');
    const changed = await first.ok('auth.changePassword', {
      currentPassword: USER_PASSWORD,
      newPassword: 'Fresh-Enamel-Secret-7',
    });
    expect(changed.otherSessionsEnded).toBe(1);
    expect(await second.errorCode('patients.search', { query: 'a' })).toBe('UNAUTHENTICATED');
    expect((await first.call('patients.search', { query: 'a' })).ok).toBe(true);
    expect(
      await new TestCaller(clinic.core).errorCode('auth.signIn', { username: 'dr-rao', password: USER_PASSWORD }),
    ).toBe('INVALID_CREDENTIALS');
    await new TestCaller(clinic.core).ok('auth.signIn', { username: 'dr-rao', password: 'Fresh-Enamel-Secret-7' });
  });

  it('lets an Admin reset a password, ending all of that user’s sessions', async () => {
    clinic = await createTestClinic();
    const staff = await clinic.signedInUser('Staff');
    const reset = await clinic.asAdmin('users.resetPassword', {
      userId: staff.userId,
      newPassword: 'Reset-By-Admin-2026',
    });
    expect(reset.sessionsEnded).toBe(1);
    expect(await staff.errorCode('patients.search', { query: 'a' })).toBe('UNAUTHENTICATED');
  });
});

describe('sign-in lockout', () => {
  it('locks an account after 5 wrong passwords, refusing even the right one until the lockout ends', async () => {
    clinic = await createTestClinic();
    await clinic.signedInUser('Receptionist', { username: 'front' });
    const caller = new TestCaller(clinic.core);
    expect(await failSignIn(caller, 'front', 5)).toEqual([
      'INVALID_CREDENTIALS',
      'INVALID_CREDENTIALS',
      'INVALID_CREDENTIALS',
      'INVALID_CREDENTIALS',
      'ACCOUNT_LOCKED',
    ]);
    expect(await caller.errorCode('auth.signIn', { username: 'front', password: USER_PASSWORD })).toBe(
      'ACCOUNT_LOCKED',
    );
    clinic.clock.advance(MINUTE);
    await caller.ok('auth.signIn', { username: 'front', password: USER_PASSWORD });
  });

  it('escalates 1, 5 and 15 minutes, then holds until an Admin unlocks', async () => {
    clinic = await createTestClinic();
    const user = await clinic.signedInUser('Staff', { username: 'hygienist' });
    const caller = new TestCaller(clinic.core);
    for (const minutes of [1, 5, 15]) {
      await failSignIn(caller, 'hygienist', 5);
      clinic.clock.advance(minutes * MINUTE - 1);
      expect(await caller.errorCode('auth.signIn', { username: 'hygienist', password: USER_PASSWORD })).toBe(
        'ACCOUNT_LOCKED',
      );
      clinic.clock.advance(1);
    }
    await failSignIn(caller, 'hygienist', 5);
    clinic.clock.advance(24 * 60 * MINUTE);
    expect(await caller.errorCode('auth.signIn', { username: 'hygienist', password: USER_PASSWORD })).toBe(
      'ACCOUNT_LOCKED',
    );
    const listed = await clinic.asAdmin('users.list', {});
    expect(listed.users.find((u) => u.id === user.userId)?.lockedUntilAdminUnlock).toBe(true);
    await clinic.asAdmin('users.unlock', { userId: user.userId });
    await caller.ok('auth.signIn', { username: 'hygienist', password: USER_PASSWORD });
  });

  it('audits failed sign-ins and the lockout, naming the account but not the password', async () => {
    clinic = await createTestClinic();
    const user = await clinic.signedInUser('Dentist', { username: 'dr-mehta' });
    await failSignIn(new TestCaller(clinic.core), 'dr-mehta', 5);
    const audit = await clinic.asAdmin('audit.list', { action: 'auth.signIn', outcome: 'denied' });
    expect(audit.entries).toHaveLength(5);
    expect(audit.entries.every((e) => e.userId === user.userId)).toBe(true);
    expect(audit.entries[0]!.details.code).toBe('ACCOUNT_LOCKED');
    expect(JSON.stringify(audit)).not.toContain('Wrong-Password-123');
  });

  it('answers an unknown username exactly like a wrong password', async () => {
    clinic = await createTestClinic();
    const caller = new TestCaller(clinic.core);
    const unknown = await caller.call('auth.signIn', { username: 'nobody', password: 'Whatever-Password-1' });
    const wrong = await caller.call('auth.signIn', { username: 'admin', password: 'Whatever-Password-1' });
    expect(unknown).toEqual(wrong);
  });

  it('refuses a source address after too many failed sign-ins across accounts', async () => {
    clinic = await createTestClinic({
      rateLimits: { readsPerMinute: 1000, writesPerMinute: 1000, publicPerMinute: 1000, signInFailuresPerSource: 3 },
    });
    const attacker = new TestCaller(clinic.core, '203.0.113.9');
    const codes = [];
    for (const username of ['a1', 'b2', 'c3', 'admin']) {
      codes.push(await attacker.errorCode('auth.signIn', { username, password: 'Guess-Password-1' }));
    }
    expect(codes.at(-1)).toBe('RATE_LIMITED');
    // Another address is unaffected.
    await new TestCaller(clinic.core, '198.51.100.7').ok('auth.signIn', {
      username: 'admin',
      password: ADMIN_PASSWORD,
    });
  });
});

describe('sessions', () => {
  it('issues a new session token at every sign-in and re-authentication; the old one stops working', async () => {
    clinic = await createTestClinic();
    const caller = await clinic.signedInUser('Receptionist', { username: 'desk' });
    const firstToken = caller.token;
    await caller.ok('auth.reauthenticate', { password: USER_PASSWORD });
    expect(caller.token).not.toBe(firstToken);
    const stale = new TestCaller(clinic.core);
    stale.token = firstToken;
    expect(await stale.errorCode('patients.search', { query: 'a' })).toBe('UNAUTHENTICATED');
    const again = new TestCaller(clinic.core);
    await again.ok('auth.signIn', { username: 'desk', password: USER_PASSWORD });
    expect(again.token).not.toBe(caller.token);
  });

  it('locks after 15 minutes without activity, and unlocks with the password into a new session id', async () => {
    clinic = await createTestClinic();
    const caller = await clinic.signedInUser('Dentist');
    clinic.clock.advance(14 * MINUTE);
    expect((await caller.call('patients.search', { query: 'a' })).ok).toBe(true);
    clinic.clock.advance(15 * MINUTE);
    expect(await caller.errorCode('patients.search', { query: 'a' })).toBe('SESSION_LOCKED');
    expect((await caller.ok('auth.session', {})).state).toBe('locked');
    const tokenBefore = caller.token;
    expect(await caller.errorCode('auth.unlock', { password: 'Wrong-Password-123' })).toBe('INVALID_CREDENTIALS');
    await caller.ok('auth.unlock', { password: USER_PASSWORD });
    expect(caller.token).not.toBe(tokenBefore);
    expect((await caller.call('patients.search', { query: 'a' })).ok).toBe(true);
  });

  it('uses a configured inactivity timeout, and polling the session state does not keep it awake', async () => {
    clinic = await createTestClinic({ sessionPolicy: { inactivityMs: 2 * MINUTE } });
    const caller = await clinic.signedInUser('Staff');
    for (let i = 0; i < 4; i++) {
      clinic.clock.advance(MINUTE / 2);
      await caller.ok('auth.session', {});
    }
    expect(await caller.errorCode('patients.search', { query: 'a' })).toBe('SESSION_LOCKED');
  });

  it('ends a session after its absolute lifetime of 12 hours, however active', async () => {
    clinic = await createTestClinic();
    const caller = await clinic.signedInUser('Receptionist');
    // A call every 10 minutes keeps the session from locking, up to just before 12 hours.
    for (let elapsed = 10; elapsed < 12 * 60; elapsed += 10) {
      clinic.clock.advance(10 * MINUTE);
      expect((await caller.call('auth.session', {})).ok).toBe(true);
      await caller.ok('patients.search', { query: 'a' });
    }
    clinic.clock.advance(10 * MINUTE);
    expect(await caller.errorCode('auth.session', {})).toBe('SESSION_EXPIRED');
  });

  it('ends every session of a user at once when the user is disabled', async () => {
    clinic = await createTestClinic();
    const desk = await clinic.signedInUser('Receptionist', { username: 'desk2' });
    const otherPc = new TestCaller(clinic.core, 'pc-2');
    await otherPc.ok('auth.signIn', { username: 'desk2', password: USER_PASSWORD });
    const updated = await clinic.asAdmin('users.update', { userId: desk.userId, disabled: true });
    expect(updated.disabled).toBe(true);
    expect(await desk.errorCode('auth.session', {})).toBe('UNAUTHENTICATED');
    expect(await otherPc.errorCode('auth.session', {})).toBe('UNAUTHENTICATED');
    expect(
      await new TestCaller(clinic.core).errorCode('auth.signIn', { username: 'desk2', password: USER_PASSWORD }),
    ).toBe('ACCOUNT_DISABLED');
  });

  it('ends a user’s sessions when their role changes, so the new role applies at once', async () => {
    clinic = await createTestClinic();
    const dentist = await clinic.signedInUser('Dentist', { username: 'dr-role' });
    await clinic.asAdmin('users.update', { userId: dentist.userId, role: 'Receptionist' });
    expect(await dentist.errorCode('patients.search', { query: 'a' })).toBe('UNAUTHENTICATED');
    const again = new TestCaller(clinic.core);
    const grant = await again.ok('auth.signIn', { username: 'dr-role', password: USER_PASSWORD });
    expect(grant.user.role).toBe('Receptionist');
  });

  it('signs out: the token no longer works and the sign-out is audited', async () => {
    clinic = await createTestClinic();
    const caller = await clinic.signedInUser('Staff');
    const token = caller.token;
    await caller.ok('auth.signOut', {});
    const stale = new TestCaller(clinic.core);
    stale.token = token;
    expect(await stale.errorCode('auth.session', {})).toBe('UNAUTHENTICATED');
    const audit = await clinic.asAdmin('audit.list', { action: 'auth.signOut' });
    expect(audit.entries.map((e) => e.userId)).toEqual([caller.userId]);
  });

  it('refuses a second clinic setup', async () => {
    clinic = await createTestClinic();
    const result = await new TestCaller(clinic.core).call('setup.createClinic', {
      clinicName: 'Hijack',
      branchName: 'X',
      admin: { username: 'intruder', displayName: 'I', password: 'Intruder-Password-1' },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'ALREADY_SET_UP' } });
    expect(
      await new TestCaller(clinic.core).errorCode('auth.signIn', {
        username: 'intruder',
        password: 'Intruder-Password-1',
      }),
    ).toBe('INVALID_CREDENTIALS');
  });
});
