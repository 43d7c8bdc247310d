/**
 * In-process RateLimiter: one token bucket per key. Past MAX_KEYS the oldest key is
 * dropped (a full bucket is what it would have refilled to, given time); keys are not
 * reordered on use, which would cost a delete and an insert per message.
 */
import type { Rate, RateLimiter } from "./types.ts";

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_KEYS = 100_000;

export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, rate: Rate): number {
    const now = this.now();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(
        rate.burst,
        bucket.tokens + ((now - bucket.at) / 1000) * rate.perSecond,
      );
      bucket.at = now;
    } else {
      if (this.#buckets.size >= MAX_KEYS) this.#buckets.delete(this.#buckets.keys().next().value!);
      bucket = { tokens: rate.burst, at: now };
      this.#buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / rate.perSecond) * 1000);
  }

  close(): Promise<void> {
    this.#buckets.clear();
    return Promise.resolve();
  }
}
