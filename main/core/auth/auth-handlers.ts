/** Sign-in, sign-out, lock, unlock, re-authentication and password change. */
import { RateLimiterRes } from 'rate-limiter-flexible';
import {
  authChangePassword,
  authLock,
  authReauthenticate,
  authSession,
  authSignIn,
  authSignOut,
  authUnlock,
} from '../../../shared/api/auth.js';
import { passwordProblem } from '../../../shared/password-policy.js';
import { readReplicatedFields, recordUserChange, sealTransaction } from '../sync/change-recorder.js';
import { ApiError } from '../api/api-error.js';
import { type Caller, type PrepareContext, type RunContext, handle } from '../api/handler.js';
import {
  type UserRow,
  findUserById,
  findUserByUsername,
  lockoutOf,
  saveLockout,
  toSessionUser,
} from '../users/users-repository.js';
import { CLEARED_LOCKOUT, afterFailedAttempt, isLockedOut } from './lockout.js';
import { DEVICE_REVOKED_MESSAGE, readRevocation } from '../sync/device-revocation.js';
import type { Session } from './session-store.js';
import type { UserSigner } from './user-keys.js';

/** Refuses a password the policy does not allow, with the reason. */
export function assertPasswordAllowed(password: string, username: string): void {
  const problem = passwordProblem(password, username);
  if (problem) throw new ApiError('PASSWORD_REJECTED', problem);
}

function grantOutput(ctx: RunContext, row: UserRow, session: Session, csrfToken: string) {
  const { sessions } = ctx.services;
  return {
    user: toSessionUser(ctx.db, row),
    csrfToken,
    expiresAt: sessions.expiresAt(session),
    inactivityTimeoutMs: sessions.policy.inactivityMs,
    reauthValidUntil: ctx.now + sessions.policy.reauthWindowMs,
  };
}

/**
 * Records a failed password check against the account: counts it, locks the account at the
 * threshold, and fails with the changes kept (the counter must survive the failure).
 */
function failPasswordCheck(ctx: RunContext, row: UserRow): never {
  const { state, lockedNow } = afterFailedAttempt(lockoutOf(row), ctx.now);
  saveLockout(ctx.db, row.id, state, ctx.now);
  ctx.audit.entityId = row.id;
  if (lockedNow) {
    // A locked-out account keeps no open sessions (a locked screen cannot be brute-forced open).
    ctx.afterCommit(() => ctx.services.sessions.endAllForUser(row.id));
    throw new ApiError('ACCOUNT_LOCKED', 'Too many wrong passwords: this account is locked for a while.', {
      keepChanges: true,
      subjectUserId: row.id,
      auditDetails: { lockoutLevel: state.lockoutLevel, lockedUntil: state.lockedUntil },
    });
  }
  throw new ApiError('INVALID_CREDENTIALS', 'The username or password is incorrect.', {
    keepChanges: true,
    subjectUserId: row.id,
    auditDetails: { failedAttempts: state.failedAttempts },
  });
}

/** A user's signing key opened at sign-in, or issued now for a user made before keys. */
interface SignInKey {
  readonly signer: UserSigner;
  /** Set when the key was issued now: its field is stored and replicated in the sign-in's transaction. */
  readonly issued: string | null;
}

/**
 * Opens the user's signing key with the password they just proved, or issues one to a user made
 * before signing keys. A key the password does not open (its wrap and the password hash were last
 * set by different writers) is not replaced here: only an Admin issues a new key (a password reset).
 */
async function openOrIssueKey(ctx: PrepareContext, row: UserRow, password: string): Promise<SignInKey | null> {
  if (row.signing_key === null) {
    const issued = await ctx.services.userKeys.issue(password);
    return { signer: issued.signer, issued: issued.field };
  }
  const signer = await ctx.services.userKeys.open(row.signing_key, password);
  return signer ? { signer, issued: null } : null;
}

/**
 * Stores a key issued at sign-in, as a change by the user signed with it; returns the signer, or
 * null when another sign-in stored a key for the user meanwhile (this session then signs nothing;
 * the user's next sign-in opens that key).
 */
function storeIssuedKey(ctx: RunContext, row: UserRow, key: SignInKey): UserSigner | null {
  if (key.issued === null) return key.signer;
  const capture = { ...ctx, caller: { userId: row.id } };
  const before = readReplicatedFields(ctx.db, 'user', row.id, ctx.services.replication);
  const stored = ctx.db
    .command('UPDATE users SET signing_key = ?, updated_at = ? WHERE id = ? AND signing_key IS NULL')
    .run([key.issued, ctx.now, row.id]).changes;
  if (stored === 0) return null;
  recordUserChange(capture, row.id, before);
  sealTransaction(capture, { userId: row.id, signer: key.signer });
  return key.signer;
}

/** Refuses every sign-in, unlock and re-authentication once this device was revoked; the data stays. */
function refuseIfDeviceRevoked(ctx: RunContext): void {
  if (readRevocation(ctx.db)) throw new ApiError('DEVICE_REVOKED', DEVICE_REVOKED_MESSAGE);
}

/** Reads the caller's user row and refuses disabled or locked-out accounts. */
function usableCallerRow(ctx: RunContext, caller: Caller): UserRow {
  const row = findUserById(ctx.db, caller.userId);
  if (!row || row.disabled === 1) throw new ApiError('ACCOUNT_DISABLED', 'This account is disabled.');
  if (isLockedOut(lockoutOf(row), ctx.now)) {
    throw new ApiError('ACCOUNT_LOCKED', 'This account is locked after too many wrong passwords.');
  }
  return row;
}

/** Checks the caller's password again (re-authentication and unlock share this). */
const confirmPassword = (action: 'auth.reauthenticate' | 'auth.unlock') => ({
  async prepare(ctx: PrepareContext, input: { password: string }) {
    const row = ctx.caller && ctx.db ? findUserById(ctx.db, ctx.caller.userId) : undefined;
    return ctx.services.hasher.verify(input.password, row?.password_hash ?? null);
  },
  run(ctx: RunContext, _input: { password: string }, matches: boolean) {
    const caller = ctx.caller!;
    ctx.audit.action = action;
    ctx.audit.entityId = caller.session.id;
    refuseIfDeviceRevoked(ctx);
    const row = usableCallerRow(ctx, caller);
    if (!matches) failPasswordCheck(ctx, row);
    saveLockout(ctx.db, row.id, CLEARED_LOCKOUT, ctx.now);
    const renewal = ctx.services.sessions.renew(caller.session);
    ctx.afterCommit(renewal.apply);
    ctx.effects.session = { token: renewal.token, csrfToken: renewal.csrfToken };
    return grantOutput(ctx, row, caller.session, renewal.csrfToken);
  },
});

export const authHandlers = {
  'auth.signIn': handle(authSignIn, {
    async prepare(ctx, input) {
      // Per-source brute-force guard, before any password work.
      const bySource = await ctx.services.signInFailuresBySource.get(ctx.source);
      if (bySource && bySource.remainingPoints <= 0) {
        throw new ApiError('RATE_LIMITED', 'Too many failed sign-ins from this computer; try again later.', {
          retryAfterMs: bySource.msBeforeNext,
        });
      }
      const row = ctx.db ? findUserByUsername(ctx.db, input.username) : undefined;
      // Always run bcrypt, even for unknown users, so timing does not reveal which usernames exist.
      const matches = await ctx.services.hasher.verify(input.password, row?.password_hash ?? null);
      if (!matches) {
        await ctx.services.signInFailuresBySource.consume(ctx.source).catch((rejection: unknown) => {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
        });
        return { matches, key: null };
      }
      return { matches, key: row ? await openOrIssueKey(ctx, row, input.password) : null };
    },
    run(ctx, input, { matches, key }) {
      refuseIfDeviceRevoked(ctx);
      const row = findUserByUsername(ctx.db, input.username);
      if (!row) {
        throw new ApiError('INVALID_CREDENTIALS', 'The username or password is incorrect.', {
          auditDetails: { reason: 'unknown-user' },
        });
      }
      ctx.audit.subject = { userId: row.id, role: row.role };
      ctx.audit.entityId = row.id;
      if (row.disabled === 1) {
        throw new ApiError('ACCOUNT_DISABLED', 'This account is disabled; ask an administrator.', {
          subjectUserId: row.id,
        });
      }
      if (isLockedOut(lockoutOf(row), ctx.now)) {
        throw new ApiError('ACCOUNT_LOCKED', 'This account is locked after too many wrong passwords.', {
          subjectUserId: row.id,
          ...(row.locked_until !== null ? { retryAfterMs: Math.max(0, row.locked_until - ctx.now) } : {}),
        });
      }
      if (!matches) failPasswordCheck(ctx, row);
      saveLockout(ctx.db, row.id, CLEARED_LOCKOUT, ctx.now);
      const branchIds = toSessionUser(ctx.db, row).branchIds;
      const signer = key ? storeIssuedKey(ctx, row, key) : null;
      const grant = ctx.services.sessions.create(
        { id: row.id, role: row.role, allBranches: row.all_branches === 1, branchIds },
        signer,
      );
      ctx.afterCommit(() => ctx.services.sessions.activate(grant));
      ctx.effects.session = { token: grant.token, csrfToken: grant.session.csrfToken };
      ctx.audit.entityId = grant.session.id;
      ctx.audit.details = { userId: row.id, signingKey: key === null ? 'none' : key.issued ? 'issued' : 'opened' };
      return grantOutput(ctx, row, grant.session, grant.session.csrfToken);
    },
  }),

  'auth.signOut': handle(authSignOut, {
    run(ctx) {
      const session = ctx.caller!.session;
      ctx.audit.entityId = session.id;
      ctx.afterCommit(() => ctx.services.sessions.end(session));
      ctx.effects.clearSession = true;
      return { signedOut: true as const };
    },
  }),

  'auth.session': handle(authSession, {
    run(ctx) {
      const caller = ctx.caller!;
      const row = findUserById(ctx.db, caller.userId);
      if (!row) throw new ApiError('UNAUTHENTICATED', 'Please sign in.');
      const { sessions } = ctx.services;
      ctx.audit.entityId = caller.session.id;
      return {
        user: toSessionUser(ctx.db, row),
        state: caller.session.lockedAt === null ? ('active' as const) : ('locked' as const),
        expiresAt: sessions.expiresAt(caller.session),
        reauthValidUntil: sessions.reauthFresh(caller.session) ? sessions.reauthValidUntil(caller.session) : null,
      };
    },
  }),

  'auth.lock': handle(authLock, {
    run(ctx) {
      const session = ctx.caller!.session;
      ctx.audit.entityId = session.id;
      ctx.afterCommit(() => ctx.services.sessions.lock(session));
      return { locked: true as const };
    },
  }),

  'auth.reauthenticate': handle(authReauthenticate, confirmPassword('auth.reauthenticate')),
  'auth.unlock': handle(authUnlock, confirmPassword('auth.unlock')),

  'auth.changePassword': handle(authChangePassword, {
    async prepare(ctx, input) {
      const row = ctx.caller && ctx.db ? findUserById(ctx.db, ctx.caller.userId) : undefined;
      const matches = await ctx.services.hasher.verify(input.currentPassword, row?.password_hash ?? null);
      if (!matches || !row) return { matches: false as const };
      assertPasswordAllowed(input.newPassword, row.username);
      if (input.newPassword === input.currentPassword) {
        throw new ApiError('PASSWORD_REJECTED', 'The new password must differ from the current one.');
      }
      // The user's key stays theirs, wrapped under the new password; a user made before signing
      // keys gets one now.
      const current =
        ctx.caller!.session.signer ?? (await ctx.services.userKeys.open(row.signing_key ?? '', input.currentPassword));
      const key = current
        ? await ctx.services.userKeys.wrap(current.privateKey, input.newPassword)
        : await ctx.services.userKeys.issue(input.newPassword);
      return { matches: true as const, newHash: await ctx.services.hasher.hash(input.newPassword), key };
    },
    run(ctx, _input, prepared) {
      const caller = ctx.caller!;
      const row = usableCallerRow(ctx, caller);
      ctx.audit.entityId = row.id;
      if (!prepared.matches) failPasswordCheck(ctx, row);
      const before = readReplicatedFields(ctx.db, 'user', row.id, ctx.services.replication);
      ctx.db
        .command(
          'UPDATE users SET password_hash = ?, password_changed_at = ?, signing_key = ?, updated_at = ? WHERE id = ?',
        )
        .run([prepared.newHash, ctx.now, prepared.key.field, ctx.now, row.id]);
      recordUserChange(ctx, row.id, before);
      // Signs this change too (the pipeline seals with the session's key after the handler).
      const previousSigner = caller.session.signer;
      caller.session.signer = prepared.key.signer;
      ctx.onRollback(() => {
        caller.session.signer = previousSigner;
      });
      const otherSessionsEnded = ctx.services.sessions.countForUser(row.id, caller.session);
      ctx.afterCommit(() => ctx.services.sessions.endAllForUser(row.id, caller.session));
      ctx.audit.details = { otherSessionsEnded };
      return { changed: true as const, otherSessionsEnded };
    },
  }),
};
