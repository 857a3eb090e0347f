/**
 * Sign-in lockout: after 5 failed attempts the account locks for 1, then 5, then 15 minutes;
 * the fourth lockout holds until an Admin unlocks it. A successful sign-in resets the steps.
 */

export const FAILED_ATTEMPTS_BEFORE_LOCKOUT = 5;
export const LOCKOUT_STEPS_MS: readonly number[] = [60_000, 5 * 60_000, 15 * 60_000];
/** The level at which only an Admin can unlock. */
export const ADMIN_UNLOCK_LEVEL = LOCKOUT_STEPS_MS.length + 1;

/** The lockout columns of a user. */
export interface LockoutState {
  readonly failedAttempts: number;
  readonly lockoutLevel: number;
  readonly lockedUntil: number | null;
}

/** True while the account refuses sign-in. */
export function isLockedOut(state: LockoutState, now: number): boolean {
  if (state.lockoutLevel >= ADMIN_UNLOCK_LEVEL) return true;
  return state.lockedUntil !== null && now < state.lockedUntil;
}

/** The state after one more failed attempt, and whether that attempt started a lockout. */
export function afterFailedAttempt(state: LockoutState, now: number): { state: LockoutState; lockedNow: boolean } {
  const failedAttempts = state.failedAttempts + 1;
  if (failedAttempts < FAILED_ATTEMPTS_BEFORE_LOCKOUT) {
    return { state: { ...state, failedAttempts }, lockedNow: false };
  }
  const lockoutLevel = state.lockoutLevel + 1;
  const step = LOCKOUT_STEPS_MS[lockoutLevel - 1];
  return {
    state: { failedAttempts: 0, lockoutLevel, lockedUntil: step === undefined ? null : now + step },
    lockedNow: true,
  };
}

/** The state after a successful sign-in or an Admin unlock. */
export const CLEARED_LOCKOUT: LockoutState = { failedAttempts: 0, lockoutLevel: 0, lockedUntil: null };
