/**
 * Brute-force protection on the unauthenticated endpoints (enrollment and token), with
 * rate-limiter-flexible: every attempt counts against its source address, and failures count
 * against the source address and the clinic named, with escalating blocks (a short window that
 * blocks for minutes, then a long one that blocks for an hour).
 *
 * These are in-memory limiters: correct for one process (a LAN relay, a single instance). When
 * several processes share one PostgreSQL, swap each RateLimiterMemory for a RateLimiterPostgres
 * with the same options plus `{ storeClient: pool, tableName: 'rate_limits' }` so all of them
 * count together.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { SyncHttpError } from '../http/errors.js';

/** One limiter's budget: `points` per `durationS` seconds, then blocked for `blockS` seconds. */
export interface LimitBudget {
  readonly points: number;
  readonly durationS: number;
  readonly blockS: number;
}

/** The budgets of every limiter; tests pass small ones. */
export interface RateLimitSettings {
  /** Attempts per source address on enroll and token, successes included. */
  readonly attemptsPerAddress: LimitBudget;
  /** Failures per source address, short window. */
  readonly failuresPerAddress: LimitBudget;
  /** Failures per source address, long window (the escalated block). */
  readonly failuresPerAddressLong: LimitBudget;
  /** Failures per clinic named in the request; generous, since anyone can name a clinic. */
  readonly failuresPerClinic: LimitBudget;
}

/** Production defaults. */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  attemptsPerAddress: { points: 60, durationS: 60, blockS: 60 },
  failuresPerAddress: { points: 10, durationS: 60, blockS: 5 * 60 },
  failuresPerAddressLong: { points: 50, durationS: 60 * 60, blockS: 60 * 60 },
  failuresPerClinic: { points: 100, durationS: 60, blockS: 5 * 60 },
};

function limiter(prefix: string, budget: LimitBudget): RateLimiterMemory {
  return new RateLimiterMemory({
    keyPrefix: prefix,
    points: budget.points,
    duration: budget.durationS,
    blockDuration: budget.blockS,
  });
}

/** The limiters of the enrollment and token endpoints. */
export class AuthRateLimits {
  private readonly attempts: RateLimiterMemory;
  private readonly failures: RateLimiterMemory;
  private readonly failuresLong: RateLimiterMemory;
  private readonly clinicFailures: RateLimiterMemory;

  constructor(private readonly settings: RateLimitSettings = DEFAULT_RATE_LIMITS) {
    this.attempts = limiter('attempts', settings.attemptsPerAddress);
    this.failures = limiter('failures', settings.failuresPerAddress);
    this.failuresLong = limiter('failures-long', settings.failuresPerAddressLong);
    this.clinicFailures = limiter('clinic-failures', settings.failuresPerClinic);
  }

  /** Counts an attempt; throws RATE_LIMITED when the address or clinic is blocked. */
  async admit(address: string, clinicId: string | null): Promise<void> {
    await Promise.all([
      this.check(this.failures, address),
      this.check(this.failuresLong, address),
      clinicId === null ? undefined : this.check(this.clinicFailures, clinicId),
    ]);
    try {
      await this.attempts.consume(address);
    } catch (error) {
      throw refusal(error);
    }
  }

  /** Counts a failure against the address and the clinic; a spent budget blocks for its block time. */
  async fail(address: string, clinicId: string | null): Promise<void> {
    await Promise.all([
      this.penalise(this.failures, this.settings.failuresPerAddress, address),
      this.penalise(this.failuresLong, this.settings.failuresPerAddressLong, address),
      clinicId === null ? undefined : this.penalise(this.clinicFailures, this.settings.failuresPerClinic, clinicId),
    ]);
  }

  private async penalise(rateLimiter: RateLimiterMemory, budget: LimitBudget, key: string): Promise<void> {
    try {
      const state = await rateLimiter.penalty(key, 1);
      // The budget is spent: block for the (longer) block time, not only to the window's end.
      if (state.remainingPoints <= 0) await rateLimiter.block(key, budget.blockS);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
    }
  }

  private async check(rateLimiter: RateLimiterMemory, key: string): Promise<void> {
    const state = await rateLimiter.get(key);
    if (state !== null && state.remainingPoints <= 0 && state.msBeforeNext > 0) {
      throw refusal(state);
    }
  }
}

function refusal(error: unknown): SyncHttpError {
  if (error instanceof RateLimiterRes) {
    return new SyncHttpError('RATE_LIMITED', 'Too many attempts; wait and try again.', error.msBeforeNext);
  }
  if (error instanceof Error) throw error;
  throw new Error('rate limiter failed');
}
