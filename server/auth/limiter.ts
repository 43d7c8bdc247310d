/**
 * Login throttling: failures are counted per IP address and per username, and each
 * failure past a free allowance doubles the wait before the next attempt. The counts
 * live in the Store's records, so every worker sharing a store, and a restart, see them.
 */
import type { RecordStore } from "../store/types.ts";

export interface LoginLimiterOptions {
  /** Failures allowed before any delay. */
  free?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A key with no failure for this long starts again from zero. */
  forgetAfterMs?: number;
  now?: () => number;
}

interface Failures {
  count: number;
  /** No attempt is accepted before this time. */
  blockedUntil: number;
  last: number;
}

export class LoginLimiter {
  readonly #r: RecordStore;
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #now: () => number;

  constructor(records: RecordStore, options: LoginLimiterOptions = {}) {
    this.#r = records;
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
      await this.#r.set(["loginfail", key], f, { expireIn: this.#forget + this.#max });
      wait = Math.max(wait, f.blockedUntil - now);
    }
    return wait;
  }

  /** A success clears the username's count; the address keeps its record. */
  async succeed(key: string): Promise<void> {
    await this.#r.delete(["loginfail", key]);
  }

  async #read(key: string, now: number): Promise<Failures | null> {
    const f = await this.#r.get<Failures>(["loginfail", key]);
    return f && (now - f.last < this.#forget || f.blockedUntil > now) ? f : null;
  }
}
