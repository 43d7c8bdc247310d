/**
 * Login throttling: failures are counted per IP address and per username, and each
 * failure past a free allowance doubles the wait before the next attempt. The counts
 * live in the Store, so every worker sharing a store, and a restart, see them.
 */
import type { LoginFailureRepository, LoginFailures } from "../store/repositories.ts";

export interface LoginLimiterOptions {
  /** Failures allowed before any delay. */
  free?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A key with no failure for this long starts again from zero. */
  forgetAfterMs?: number;
  now?: () => number;
}

export class LoginLimiter {
  readonly #failures: LoginFailureRepository;
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #now: () => number;

  constructor(failures: LoginFailureRepository, options: LoginLimiterOptions = {}) {
    this.#failures = failures;
    this.#free = options.free ?? 5;
    this.#base = options.baseDelayMs ?? 1000;
    this.#max = options.maxDelayMs ?? 15 * 60 * 1000;
    this.#forget = options.forgetAfterMs ?? 60 * 60 * 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds to wait before these keys may try again; 0 when they may now. */
  async waitMs(keys: string[]): Promise<number> {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const f = await this.#read(key, now);
      if (f) wait = Math.max(wait, f.blockedUntil - now);
    }
    return Math.max(0, Math.ceil(wait));
  }

  /** Count a failed attempt against every key; returns the wait it imposes. */
  async fail(keys: string[]): Promise<number> {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const f = await this.#read(key, now) ?? { count: 0, blockedUntil: 0, last: now };
      f.count++;
      f.last = now;
      const over = f.count - this.#free;
      if (over > 0) f.blockedUntil = now + Math.min(this.#max, this.#base * 2 ** (over - 1));
      await this.#failures.put(key, f, { expireIn: this.#forget + this.#max });
      wait = Math.max(wait, f.blockedUntil - now);
    }
    return wait;
  }

  /** A success clears the username's count; the address keeps its record. */
  async succeed(key: string): Promise<void> {
    await this.#failures.delete(key);
  }

  async #read(key: string, now: number): Promise<LoginFailures | null> {
    const f = await this.#failures.get(key);
    return f && (now - f.last < this.#forget || f.blockedUntil > now) ? f : null;
  }
}
