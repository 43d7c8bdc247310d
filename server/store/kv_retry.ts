/**
 * Another handle on the same KV file (a sibling worker) may hold SQLite's write lock for a
 * moment; that is a transient "database is locked", not a failure.
 */

/** Retry a locked write; give `onBusy` back if the lock persists, so callers can re-read. */
export async function busy<T, F>(fn: () => Promise<T>, onBusy: F, attempts = 5): Promise<T | F> {
  for (let i = 0;; i++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof Error) || !/database is locked|busy/i.test(error.message)) throw error;
      if (i + 1 >= attempts) return onBusy;
      await new Promise((r) => setTimeout(r, 1 + Math.random() * 5 * (i + 1)));
    }
  }
}

/** Like `busy`, for operations that must go through: retry until the lock clears. */
export function untilUnlocked<T>(fn: () => Promise<T>): Promise<T> {
  return busy(fn, undefined as never, 1000);
}
