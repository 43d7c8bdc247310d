/**
 * Group commit for KV writes that check nothing: accounts, memberships, settings.
 *
 * Each KV commit costs a SQLite transaction with its sync to disk (about 0.4-0.6 ms here),
 * and one handle's commits run one at a time. Ten thousand clients connecting after a
 * restart each write their account and their memberships: written one commit each, they
 * queued behind each other for tens of seconds. Here every write asked for while a commit
 * is in flight goes into the next one, so a storm costs a few dozen commits. Each caller
 * still waits for its own write to be durable, and writes land in the order they were
 * asked for.
 */
import { untilUnlocked } from "./kv_retry.ts";

export type KvWrite =
  | { type: "set"; key: Deno.KvKey; value: unknown; expireIn?: number }
  | { type: "delete"; key: Deno.KvKey };

interface Request {
  writes: KvWrite[];
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Well inside KV's limits of 1,000 mutations and 800 KB per commit. */
const MAX_MUTATIONS = 500;
const MAX_BYTES = 400 * 1024;

export class KvWriteCombiner {
  #queue: Request[] = [];
  #flushing: Promise<void> | null = null;

  constructor(private readonly kv: Deno.Kv) {}

  /** Commit `writes` together, in one commit with whatever else is waiting. */
  write(...writes: KvWrite[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({
        writes,
        bytes: writes.reduce((n, w) => n + sizeOf(w), 0),
        resolve,
        reject,
      });
      this.#flushing ??= Promise.resolve().then(() => this.#flushLoop());
    });
  }

  /** Settles once everything asked for so far is committed (or has failed). */
  async settled(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commit(this.#take());
    } finally {
      this.#flushing = null;
    }
  }

  /** The longest run of waiting requests that fits one commit; at least one. */
  #take(): Request[] {
    let mutations = 0;
    let bytes = 0;
    let n = 0;
    for (const request of this.#queue) {
      mutations += request.writes.length;
      bytes += request.bytes;
      if (n > 0 && (mutations > MAX_MUTATIONS || bytes > MAX_BYTES)) break;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #commit(batch: Request[]): Promise<void> {
    try {
      await untilUnlocked(() => this.#apply(batch.flatMap((r) => r.writes)).commit());
      for (const request of batch) request.resolve();
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      // One caller's bad write (a value over KV's size cap, say) fails that caller alone.
      for (const request of batch) {
        try {
          await untilUnlocked(() => this.#apply(request.writes).commit());
          request.resolve();
        } catch (alone) {
          request.reject(alone);
        }
      }
    }
  }

  #apply(writes: KvWrite[]): Deno.AtomicOperation {
    const op = this.kv.atomic();
    for (const w of writes) {
      if (w.type === "delete") op.delete(w.key);
      else op.set(w.key, w.value, w.expireIn === undefined ? {} : { expireIn: w.expireIn });
    }
    return op;
  }
}

/** A generous guess at a write's size: keys and JSON-ish values, strings at 2 bytes a char. */
function sizeOf(write: KvWrite): number {
  const key = write.key.reduce<number>((n, part) => n + String(part).length * 2 + 4, 0);
  if (write.type === "delete") return key;
  const value = write.value;
  if (value instanceof Uint8Array) return key + value.byteLength;
  try {
    return key + (JSON.stringify(value)?.length ?? 8) * 2;
  } catch {
    return key + 64 * 1024; // not JSON (a bigint, a cycle): count it as KV's per-value cap
  }
}
