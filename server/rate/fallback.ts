/**
 * A shared RateLimiter that falls back to this instance's own buckets while its engine is
 * unreachable: limits stay bounded (per instance) instead of failing every request.
 */
import { MemoryRateLimiter } from "./memory.ts";
import type { Rate, RateLimiter } from "./types.ts";

export class FallbackRateLimiter implements RateLimiter {
  readonly #local: MemoryRateLimiter;

  constructor(
    private readonly shared: RateLimiter,
    private readonly onError: (error: unknown) => void = () => {},
    now: () => number = Date.now,
  ) {
    this.#local = new MemoryRateLimiter(now);
  }

  take(key: string, rate: Rate): number | Promise<number> {
    let answer: number | Promise<number>;
    try {
      answer = this.shared.take(key, rate);
    } catch (error) {
      this.onError(error);
      return this.#local.take(key, rate);
    }
    if (typeof answer === "number") return answer;
    return answer.catch((error) => {
      this.onError(error);
      return this.#local.take(key, rate);
    });
  }

  async close(): Promise<void> {
    await this.#local.close();
    await this.shared.close();
  }
}
