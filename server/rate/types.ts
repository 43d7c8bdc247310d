/** RateLimiter: token buckets kept per key (a user, an IP), shared by every instance. */

export interface Rate {
  perSecond: number;
  burst: number;
}

/**
 * Contract (tests/rate_contract.ts runs it against every adapter):
 * - a fresh key grants `burst` takes at once, then one per 1/perSecond s;
 * - a refusal says how many milliseconds until the next take would be granted;
 * - instances sharing the engine share the buckets;
 * - a memory adapter answers synchronously, so the hot path needs no await.
 */
export interface RateLimiter {
  /** Take one token from `key`'s bucket: 0 when granted, else ms until one is there. */
  take(key: string, rate: Rate): number | Promise<number>;
  close(): Promise<void>;
}
