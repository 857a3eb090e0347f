/**
 * Rate limits per caller and kind of operation (rate-limiter-flexible, in memory: the core serves
 * one device). Keys are user ids for signed-in callers and the source address otherwise.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface RateLimitPolicy {
  /** Calls per minute for each kind of channel. */
  readonly readsPerMinute: number;
  readonly writesPerMinute: number;
  readonly publicPerMinute: number;
  /** Failed sign-ins per source address per 15 minutes before that source is refused. */
  readonly signInFailuresPerSource: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitPolicy = {
  readsPerMinute: 600,
  writesPerMinute: 120,
  publicPerMinute: 60,
  signInFailuresPerSource: 30,
};

/** The limiters of one core. */
export class RateLimits {
  private readonly reads: RateLimiterMemory;
  private readonly writes: RateLimiterMemory;
  private readonly publicCalls: RateLimiterMemory;
  readonly signInFailuresBySource: RateLimiterMemory;

  constructor(policy: RateLimitPolicy) {
    this.reads = new RateLimiterMemory({ points: policy.readsPerMinute, duration: 60 });
    this.writes = new RateLimiterMemory({ points: policy.writesPerMinute, duration: 60 });
    this.publicCalls = new RateLimiterMemory({ points: policy.publicPerMinute, duration: 60 });
    this.signInFailuresBySource = new RateLimiterMemory({
      points: policy.signInFailuresPerSource,
      duration: 15 * 60,
      blockDuration: 15 * 60,
    });
  }

  /** Consumes one call; resolves to null when allowed, or the wait in ms when refused. */
  async consume(kind: 'read' | 'write' | 'public', key: string): Promise<number | null> {
    const limiter = kind === 'read' ? this.reads : kind === 'write' ? this.writes : this.publicCalls;
    try {
      await limiter.consume(key);
      return null;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return Math.max(1, rejection.msBeforeNext);
      throw rejection;
    }
  }
}
