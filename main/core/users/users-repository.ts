/** Queries on users and branch assignments. */
import type { Role } from '../../../shared/permissions.js';
import type { SessionUser, UserSummary } from '../../../shared/schemas/users.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import { ADMIN_UNLOCK_LEVEL, type LockoutState } from '../auth/lockout.js';

/** A users row. */
export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  role: Role;
  all_branches: 0 | 1;
  password_hash: string;
  disabled: 0 | 1;
  failed_attempts: number;
  lockout_level: number;
  locked_until: number | null;
  password_changed_at: number;
  /** The password-wrapped signing key (auth/user-keys.ts); null for users made before keys. */
  signing_key: string | null;
  created_at: number;
  updated_at: number;
}

export function findUserByUsername(db: ReadDb, username: string): UserRow | undefined {
  return db.query<UserRow>('SELECT * FROM users WHERE username = ?').get([username]);
}

export function findUserById(db: ReadDb, id: string): UserRow | undefined {
  return db.query<UserRow>('SELECT * FROM users WHERE id = ?').get([id]);
}

export function branchIdsOf(db: ReadDb, userId: string): string[] {
  return db
    .query<{ branch_id: string }>('SELECT branch_id FROM user_branches WHERE user_id = ? ORDER BY branch_id')
    .all([userId])
    .map((row) => row.branch_id);
}

export function lockoutOf(row: UserRow): LockoutState {
  return { failedAttempts: row.failed_attempts, lockoutLevel: row.lockout_level, lockedUntil: row.locked_until };
}

export function saveLockout(db: WriteDb, userId: string, state: LockoutState, now: number): void {
  db.command(
    'UPDATE users SET failed_attempts = ?, lockout_level = ?, locked_until = ?, updated_at = ? WHERE id = ?',
  ).run([state.failedAttempts, state.lockoutLevel, state.lockedUntil, now, userId]);
}

/** Replaces a user's branch assignments, including any pulled ahead of their branch (sync). */
export function setBranches(db: WriteDb, userId: string, branchIds: readonly string[]): void {
  db.command('DELETE FROM user_branches WHERE user_id = ?').run([userId]);
  db.command('DELETE FROM sync_pending_user_branches WHERE user_id = ?').run([userId]);
  const insert = db.command('INSERT INTO user_branches (user_id, branch_id) VALUES (?, ?)');
  for (const branchId of new Set(branchIds)) insert.run([userId, branchId]);
}

export function toUserSummary(db: ReadDb, row: UserRow, now: number): UserSummary {
  const adminOnly = row.lockout_level >= ADMIN_UNLOCK_LEVEL;
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role: row.role,
    allBranches: row.all_branches === 1,
    branchIds: branchIdsOf(db, row.id),
    disabled: row.disabled === 1,
    lockedUntil: !adminOnly && row.locked_until !== null && row.locked_until > now ? row.locked_until : null,
    lockedUntilAdminUnlock: adminOnly,
    createdAt: row.created_at,
  };
}

export function toSessionUser(db: ReadDb, row: UserRow): SessionUser {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role: row.role,
    allBranches: row.all_branches === 1,
    branchIds: branchIdsOf(db, row.id),
  };
}

/** Inserts a user row (password already hashed). */
export function insertUser(
  db: WriteDb,
  user: {
    id: string;
    username: string;
    displayName: string;
    role: Role;
    allBranches: boolean;
    passwordHash: string;
    /** The user's signing key (auth/user-keys.ts), wrapped under the same password. */
    signingKey: string;
    now: number;
  },
): void {
  db.command(
    `INSERT INTO users (id, username, display_name, role, all_branches, password_hash, password_changed_at, signing_key,
       created_at, updated_at)
     VALUES (@id, @username, @displayName, @role, @allBranches, @passwordHash, @now, @signingKey, @now, @now)`,
  ).run({ ...user, allBranches: user.allBranches ? 1 : 0 });
}

/** Throws unless every id is an existing branch. */
export function unknownBranchIds(db: ReadDb, branchIds: readonly string[]): string[] {
  const exists = db.query<{ found: number }>('SELECT 1 AS found FROM branches WHERE id = ?');
  return branchIds.filter((id) => !exists.get([id]));
}
