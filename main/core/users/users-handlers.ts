/** Admin management of users: create, list, change role and branches, disable, reset, unlock. */
import { usersCreate, usersList, usersResetPassword, usersUnlock, usersUpdate } from '../../../shared/api/users.js';
import { readReplicatedFields, recordUserChange } from '../sync/change-recorder.js';
import { ApiError } from '../api/api-error.js';
import { type RunContext, handle } from '../api/handler.js';
import { assertPasswordAllowed } from '../auth/auth-handlers.js';
import { CLEARED_LOCKOUT } from '../auth/lockout.js';
import {
  type UserRow,
  findUserById,
  findUserByUsername,
  insertUser,
  saveLockout,
  setBranches,
  toUserSummary,
  unknownBranchIds,
} from './users-repository.js';

function existingUser(ctx: RunContext, userId: string): UserRow {
  const row = findUserById(ctx.db, userId);
  if (!row) throw new ApiError('NOT_FOUND', 'There is no such user.');
  ctx.audit.entityId = row.id;
  return row;
}

function assertBranchesExist(ctx: RunContext, branchIds: readonly string[]): void {
  if (unknownBranchIds(ctx.db, branchIds).length > 0)
    throw new ApiError('VALIDATION_FAILED', 'A chosen branch does not exist.');
}

/** Ends a user's sessions after the change commits; their next call must sign in again. */
function endSessionsAfterCommit(ctx: RunContext, userId: string): number {
  const count = ctx.services.sessions.countForUser(userId);
  ctx.afterCommit(() => ctx.services.sessions.endAllForUser(userId));
  return count;
}

export const usersHandlers = {
  'users.list': handle(usersList, {
    run(ctx) {
      const rows = ctx.db.query<UserRow>('SELECT * FROM users ORDER BY display_name, username').all();
      ctx.audit.details = { count: rows.length };
      return { users: rows.map((row) => toUserSummary(ctx.db, row, ctx.now)) };
    },
  }),

  'users.create': handle(usersCreate, {
    async prepare(ctx, input) {
      assertPasswordAllowed(input.password, input.username);
      return {
        passwordHash: await ctx.services.hasher.hash(input.password),
        // The new user's signing key, wrapped under the password the Admin gives them.
        signingKey: (await ctx.services.userKeys.issue(input.password)).field,
      };
    },
    run(ctx, input, { passwordHash, signingKey }) {
      if (findUserByUsername(ctx.db, input.username)) throw new ApiError('CONFLICT', 'That username is taken.');
      if (!input.allBranches && input.branchIds.length === 0) {
        throw new ApiError('VALIDATION_FAILED', 'Choose at least one branch, or all branches.');
      }
      assertBranchesExist(ctx, input.branchIds);
      const id = ctx.services.sources.ids.next();
      insertUser(ctx.db, { id, ...input, passwordHash, signingKey, now: ctx.now });
      setBranches(ctx.db, id, input.allBranches ? [] : input.branchIds);
      recordUserChange(ctx, id, undefined);
      ctx.audit.entityId = id;
      ctx.audit.details = { role: input.role, allBranches: input.allBranches, branches: input.branchIds.length };
      return toUserSummary(ctx.db, findUserById(ctx.db, id)!, ctx.now);
    },
  }),

  'users.update': handle(usersUpdate, {
    run(ctx, input) {
      const row = existingUser(ctx, input.userId);
      const caller = ctx.caller!;
      if (row.id === caller.userId && (input.disabled === true || (input.role && input.role !== 'Admin'))) {
        // Keeps a clinic from locking itself out of administration by accident.
        throw new ApiError('CONFLICT', 'You cannot disable yourself or remove your own Admin role.');
      }
      const allBranches = input.allBranches ?? row.all_branches === 1;
      if (input.branchIds) assertBranchesExist(ctx, input.branchIds);
      const branchCount =
        input.branchIds?.length ??
        ctx.db.query<{ n: number }>('SELECT count(*) AS n FROM user_branches WHERE user_id = ?').get([row.id])!.n;
      if (!allBranches && branchCount === 0) {
        throw new ApiError('VALIDATION_FAILED', 'Choose at least one branch, or all branches.');
      }
      const before = readReplicatedFields(ctx.db, 'user', row.id, ctx.services.replication);
      ctx.db
        .command(
          `UPDATE users SET display_name = ?, role = ?, all_branches = ?, disabled = ?, updated_at = ? WHERE id = ?`,
        )
        .run([
          input.displayName ?? row.display_name,
          input.role ?? row.role,
          allBranches ? 1 : 0,
          input.disabled === undefined ? row.disabled : input.disabled ? 1 : 0,
          ctx.now,
          row.id,
        ]);
      if (input.branchIds || allBranches) setBranches(ctx.db, row.id, allBranches ? [] : (input.branchIds ?? []));
      // After the branch write: the recorded change carries the assignment as its branch_ids field.
      recordUserChange(ctx, row.id, before);
      const changedAccess =
        input.role !== undefined ||
        input.allBranches !== undefined ||
        input.branchIds !== undefined ||
        input.disabled === true;
      const changed = Object.keys(input).filter((key) => key !== 'userId');
      ctx.audit.details = { changed: changed.join(','), ...(input.role ? { role: input.role } : {}) };
      if (changedAccess) ctx.audit.details.sessionsEnded = endSessionsAfterCommit(ctx, row.id);
      return toUserSummary(ctx.db, findUserById(ctx.db, row.id)!, ctx.now);
    },
  }),

  'users.resetPassword': handle(usersResetPassword, {
    async prepare(ctx, input) {
      const row = ctx.db ? findUserById(ctx.db, input.userId) : undefined;
      if (!row) throw new ApiError('NOT_FOUND', 'There is no such user.');
      assertPasswordAllowed(input.newPassword, row.username);
      return {
        passwordHash: await ctx.services.hasher.hash(input.newPassword),
        // An Admin cannot open the user's old key: a reset issues a new one (the server accepts a
        // new key for a user only from an Admin).
        signingKey: (await ctx.services.userKeys.issue(input.newPassword)).field,
      };
    },
    run(ctx, input, { passwordHash, signingKey }) {
      const row = existingUser(ctx, input.userId);
      const before = readReplicatedFields(ctx.db, 'user', row.id, ctx.services.replication);
      ctx.db
        .command(
          'UPDATE users SET password_hash = ?, password_changed_at = ?, signing_key = ?, updated_at = ? WHERE id = ?',
        )
        .run([passwordHash, ctx.now, signingKey, ctx.now, row.id]);
      recordUserChange(ctx, row.id, before);
      const sessionsEnded = endSessionsAfterCommit(ctx, row.id);
      ctx.audit.details = { sessionsEnded };
      return { reset: true as const, sessionsEnded };
    },
  }),

  'users.unlock': handle(usersUnlock, {
    run(ctx, input) {
      const row = existingUser(ctx, input.userId);
      saveLockout(ctx.db, row.id, CLEARED_LOCKOUT, ctx.now);
      return toUserSummary(ctx.db, findUserById(ctx.db, row.id)!, ctx.now);
    },
  }),
};
