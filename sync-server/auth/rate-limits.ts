/**
 * Brute-force protection on the unauthenticated endpoints (enrollment, challenge and token), with
 * rate-limiter-flexible:
 * - every attempt counts against its source address (successes included);
 * - every failure counts against its source address, in a short window that blocks for minutes and
 *   a long one that blocks for an hour. The failure is reserved before the work (an atomic
 *   consume) and refunded when the attempt succeeds, so a burst of concurrent attempts from one
 *   address cannot all be checked against a budget read once: at most the budget is evaluated;
 * - a failed token request also counts against the device it names (clinic and device id). Once
 *   that budget is spent, further failures naming the device are answered RATE_LIMITED, but the
 *   count is applied only after the signature was checked: a valid signature always gets its
 *   token. Nothing counts against a whole clinic: its id is not a secret, and a clinic-wide
 *   budget let anyone keep a clinic from getting tokens.
 *
 * An address is an IPv4 address, or an IPv6 address's /64 network (addressKey): one IPv6 host
 * usually holds a whole /64, and keyed by full address it could take a fresh budget per request.
 *
 * Where the counts live is the caller's choice (RateLimitStore): in memory for one process (the
 * embedded SQLite storage, where one process owns the files), or in a PostgreSQL table when
 * several processes share one database, so an address failing on one process is blocked on all.
 * The limiter's counters are atomic in both stores (an increment that returns the new count).
 */
import { isIPv6 } from 'node:net';
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
  /** Attempts per source address on enroll, challenge and token, successes included. */
  readonly attemptsPerAddress: LimitBudget;
  /** Failures per source address, short window. */
  readonly failuresPerAddress: LimitBudget;
  /** Failures per source address, long window (the escalated block). */
  readonly failuresPerAddressLong: LimitBudget;
  /**
   * Failed token requests naming one device (whatever their address). Spent, it turns further
   * failures into RATE_LIMITED; a valid signature is never refused by it.
   */
  readonly failuresPerDevice: LimitBudget;
}

/** Production defaults. */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  attemptsPerAddress: { points: 60, durationS: 60, blockS: 60 },
  failuresPerAddress: { points: 10, durationS: 60, blockS: 5 * 60 },
  failuresPerAddressLong: { points: 50, durationS: 60 * 60, blockS: 60 * 60 },
  // Short block: a genuine device whose own answer fails (a replayed challenge after a lost
  // response) while its id is flooded waits at most a minute, not the address block's five.
  failuresPerDevice: { points: 30, durationS: 60, blockS: 60 },
};

/**
 * A block sets a key's count this far above its budget, so refunds of attempts that were in
 * flight when the block began cannot bring it back under the budget before the block ends.
 */
const BLOCK_MARGIN = 1_000_000;

/**
 * One attempt's reserved failure, settled once: `succeeded` refunds it, `failed` keeps it (and
 * blocks an address whose budget it spent), `release` refunds it if neither was called (an
 * internal error is not the caller's failure). Call `release` in a `finally`.
 */
export interface AuthAttempt {
  succeeded(): Promise<void>;
  failed(): Promise<void>;
  release(): Promise<void>;
}

interface BudgetedLimiter {
  readonly limiter: RateLimiterAbstract;
  readonly budget: LimitBudget;
}

function limiter(prefix: string, budget: LimitBudget, store: RateLimitStore, autoBlock: boolean): BudgetedLimiter {
  const options = {
    keyPrefix: prefix,
    points: budget.points,
    duration: budget.durationS,
    // Failure budgets block explicitly (blockKey): the library's block-on-exceed would also block
    // an address whose attempts were refused only because others were still in flight.
    blockDuration: autoBlock ? budget.blockS : 0,
  };
  if (store.kind === 'memory') return { limiter: new RateLimiterMemory(options), budget };
  return {
    limiter: new RateLimiterPostgres({
      ...options,
      storeClient: store.pool,
      storeType: 'pool',
      schemaName: store.schemaName,
      tableName: store.tableName,
      // The migration made the table; the app role may not create one.
      tableCreated: true,
    }),
    budget,
  };
}

/** The limiters of the enrollment, challenge and token endpoints. */
export class AuthRateLimits {
  private readonly attempts: BudgetedLimiter;
  private readonly addressFailures: readonly BudgetedLimiter[];
  private readonly deviceFailures: BudgetedLimiter;

  constructor(settings: RateLimitSettings = DEFAULT_RATE_LIMITS, store: RateLimitStore = { kind: 'memory' }) {
    this.attempts = limiter('attempts', settings.attemptsPerAddress, store, true);
    this.addressFailures = [
      limiter('failures', settings.failuresPerAddress, store, false),
      limiter('failures-long', settings.failuresPerAddressLong, store, false),
    ];
    this.deviceFailures = limiter('device-failures', settings.failuresPerDevice, store, false);
  }

  /**
   * Counts an attempt that cannot fail (a challenge); refuses RATE_LIMITED an address over its
   * attempts budget or whose failure budget is spent, so a blocked address gets no challenges.
   */
  async admit(peer: string): Promise<void> {
    const address = addressKey(peer);
    await this.countAttempt(address);
    const states = await Promise.all(this.addressFailures.map(({ limiter }) => limiter.get(address)));
    this.addressFailures.forEach(({ budget }, index) => {
      const state = states[index];
      if (state && state.consumedPoints >= budget.points && state.msBeforeNext > 0) throw refusal(state);
    });
  }

  /**
   * Counts an attempt and reserves one failure from each of the address's failure budgets before
   * the caller does any work; refuses RATE_LIMITED when the attempts budget is spent or a failure
   * budget has no point left (counting attempts still in flight).
   */
  async beginAttempt(peer: string): Promise<AuthAttempt> {
    const address = addressKey(peer);
    await this.countAttempt(address);
    const outcomes = await Promise.allSettled(this.addressFailures.map(({ limiter }) => limiter.consume(address)));
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    if (refused) {
      // A reservation taken in another budget is given back: this attempt is not evaluated. The
      // refused increment itself stays until its window ends: refunded, it could land in the next
      // window (a burst timed at the boundary) and lend the address points it never had.
      await Promise.all(
        outcomes.map((outcome, index) =>
          outcome.status === 'fulfilled' ? this.refund(this.addressFailures[index]!, address) : undefined,
        ),
      );
      throw refusal(refused.reason);
    }
    const reserved = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<RateLimiterRes>).value);
    let settled = false;
    const refundOnce = async () => {
      if (settled) return;
      settled = true;
      await Promise.all(this.addressFailures.map((entry) => this.refund(entry, address)));
    };
    return {
      succeeded: refundOnce,
      release: refundOnce,
      failed: async () => {
        if (settled) return;
        settled = true;
        // The failure that spent a budget starts its block (longer than the window's rest).
        await Promise.all(
          this.addressFailures.map((entry, index) =>
            reserved[index]!.consumedPoints >= entry.budget.points ? blockKey(entry, address) : undefined,
          ),
        );
      },
    };
  }

  /**
   * Counts a failed token request against the device it names. Returns the RATE_LIMITED refusal
   * to answer instead of UNAUTHENTICATED once the device's budget is spent, else null. Call it
   * only after the signature was found invalid: it never stands between a valid signature and
   * its token.
   */
  async deviceFailed(clinicId: string, deviceId: string): Promise<SyncHttpError | null> {
    // Device ids are unique only within a clinic; neither id can hold a '/'.
    const key = `${clinicId}/${deviceId}`;
    const { limiter, budget } = this.deviceFailures;
    const state = await limiter.penalty(key, 1);
    if (state.consumedPoints === budget.points) await blockKey(this.deviceFailures, key);
    if (state.consumedPoints <= budget.points) return null;
    return refusal(state);
  }

  private async countAttempt(address: string): Promise<void> {
    try {
      await this.attempts.limiter.consume(address);
    } catch (error) {
      throw refusal(error);
    }
  }

  private async refund(entry: BudgetedLimiter, key: string): Promise<void> {
    // Best effort: a refund that fails leaves one failure counted, which errs toward the limit.
    await entry.limiter.reward(key, 1).catch(() => undefined);
  }
}

/**
 * The key an address is counted under: an IPv4 address as it is (also when written IPv4-mapped,
 * `::ffff:192.0.2.1`), an IPv6 address as its /64 network (`2001:db8:0:1::/64`), anything else
 * unchanged.
 */
export function addressKey(address: string): string {
  const bare = address.split('%')[0]!;
  if (!isIPv6(bare)) return address;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, an IPv4 tail as two groups). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  if (rest === undefined) return headGroups.map((group) => parseInt(group, 16));
  const restGroups = rest === '' ? [] : rest.split(':');
  const zeros = Array.from({ length: 8 - headGroups.length - restGroups.length }, () => '0');
  return [...headGroups, ...zeros, ...restGroups].map((group) => parseInt(group, 16));
}

/** Blocks a key for its budget's block time (see BLOCK_MARGIN). */
async function blockKey(entry: BudgetedLimiter, key: string): Promise<void> {
  await entry.limiter.set(key, entry.budget.points + BLOCK_MARGIN, entry.budget.blockS);
}

function refusal(error: unknown): SyncHttpError {
  if (error instanceof RateLimiterRes) {
    return new SyncHttpError('RATE_LIMITED', 'Too many attempts; wait and try again.', error.msBeforeNext);
  }
  if (error instanceof Error) throw error;
  throw new Error('rate limiter failed');
}
