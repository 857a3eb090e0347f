/**
 * Brute-force protection on the unauthenticated endpoints (enrollment and token), with
 * rate-limiter-flexible: every attempt counts against its source address, and failures count
 * against the source address and the clinic named, with escalating blocks (a short window that
 * blocks for minutes, then a long one that blocks for an hour).
 *
 * Where the counts live is the caller's choice (RateLimitStore): in memory for one process (the
 * embedded SQLite storage, where one process owns the files), or in a PostgreSQL table when
 * several processes share one database, so an address failing on one process is blocked on all.
 */
import type pg from 'pg';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { SyncHttpError } from '../http/errors.js';

/**
 * Where the limiters keep their counts: this process's memory, or a table every server process
 * on the same PostgreSQL database shares (created by the storage's migrations; see
 * storage/postgres/migrations/0080-auth-state.ts).
 */
export type RateLimitStore =
  | { readonly kind: 'memory' }
  | { readonly kind: 'postgres'; readonly pool: pg.Pool; readonly schemaName: string; readonly tableName: string };

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

function limiter(prefix: string, budget: LimitBudget, store: RateLimitStore): RateLimiterAbstract {
  const options = {
    keyPrefix: prefix,
    points: budget.points,
    duration: budget.durationS,
    blockDuration: budget.blockS,
  };
  if (store.kind === 'memory') return new RateLimiterMemory(options);
  return new RateLimiterPostgres({
    ...options,
    storeClient: store.pool,
    storeType: 'pool',
    schemaName: store.schemaName,
    tableName: store.tableName,
    // The migration made the table; the app role may not create one.
    tableCreated: true,
  });
}

/** The limiters of the enrollment and token endpoints. */
export class AuthRateLimits {
  private readonly attempts: RateLimiterAbstract;
  private readonly failures: RateLimiterAbstract;
  private readonly failuresLong: RateLimiterAbstract;
  private readonly clinicFailures: RateLimiterAbstract;

  constructor(
    private readonly settings: RateLimitSettings = DEFAULT_RATE_LIMITS,
    store: RateLimitStore = { kind: 'memory' },
  ) {
    this.attempts = limiter('attempts', settings.attemptsPerAddress, store);
    this.failures = limiter('failures', settings.failuresPerAddress, store);
    this.failuresLong = limiter('failures-long', settings.failuresPerAddressLong, store);
    this.clinicFailures = limiter('clinic-failures', settings.failuresPerClinic, store);
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

  private async penalise(rateLimiter: RateLimiterAbstract, budget: LimitBudget, key: string): Promise<void> {
    try {
      const state = await rateLimiter.penalty(key, 1);
      // The budget is spent: block for the (longer) block time, not only to the window's end.
      if (state.remainingPoints <= 0) await rateLimiter.block(key, budget.blockS);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
    }
  }

  private async check(rateLimiter: RateLimiterAbstract, key: string): Promise<void> {
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
