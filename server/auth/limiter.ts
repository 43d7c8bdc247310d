/**
 * Login throttling: failures are counted per IP address and per username, and each
 * failure past a free allowance doubles the wait before the next attempt.
 */

export interface LoginLimiterOptions {
  /** Failures allowed before any delay. */
  free?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A quiet key is forgotten after this long. */
  forgetAfterMs?: number;
  now?: () => number;
}

interface Failures {
  count: number;
  /** No attempt is accepted before this time. */
  blockedUntil: number;
  last: number;
}

const MAX_KEYS = 100_000;

export class LoginLimiter {
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #now: () => number;
  readonly #failures = new Map<string, Failures>();

  constructor(options: LoginLimiterOptions = {}) {
    this.#free = options.free ?? 5;
    this.#base = options.baseDelayMs ?? 1000;
    this.#max = options.maxDelayMs ?? 15 * 60 * 1000;
    this.#forget = options.forgetAfterMs ?? 60 * 60 * 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds to wait before these keys may try again; 0 when they may now. */
  waitMs(keys: string[]): number {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const f = this.#failures.get(key);
      if (f) wait = Math.max(wait, f.blockedUntil - now);
    }
    return Math.max(0, Math.ceil(wait));
  }

  /** Count a failed attempt against every key; returns the wait it imposes. */
  fail(keys: string[]): number {
    const now = this.#now();
    if (this.#failures.size > MAX_KEYS) this.#sweep(now);
    let wait = 0;
    for (const key of keys) {
      const f = this.#failures.get(key) ?? { count: 0, blockedUntil: 0, last: now };
      f.count++;
      f.last = now;
      const over = f.count - this.#free;
      if (over > 0) f.blockedUntil = now + Math.min(this.#max, this.#base * 2 ** (over - 1));
      this.#failures.set(key, f);
      wait = Math.max(wait, f.blockedUntil - now);
    }
    return wait;
  }

  /** A success clears the username's count; the address keeps its record. */
  succeed(key: string): void {
    this.#failures.delete(key);
  }

  #sweep(now: number): void {
    for (const [key, f] of this.#failures) {
      if (now - f.last > this.#forget && f.blockedUntil < now) this.#failures.delete(key);
    }
  }
}
