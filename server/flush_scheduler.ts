/**
 * Connections with frames waiting, flushed together by one microtask at the end of the
 * task: a broadcast to a thousand sockets schedules one flush, not a thousand. One per
 * server, created by the app, so two servers in one process share nothing.
 */
import { encodeBatch } from "../protocol/frames.ts";

export interface Flushable {
  flush(): void;
}

const BATCHES_PER_LENGTH = 8;

export class FlushScheduler {
  readonly #dirty = new Set<Flushable>();
  #scheduled = false;
  /**
   * Batches joined in this flush, by part count. Members of one room are due the same
   * broadcasts, so in a busy room they share one joined string instead of building a
   * copy each: less CPU, and far less garbage for the collector.
   */
  readonly #batches = new Map<number, { parts: string[]; frame: string }[]>();

  schedule(conn: Flushable): void {
    this.#dirty.add(conn);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flushAll());
  }

  forget(conn: Flushable): void {
    this.#dirty.delete(conn);
  }

  /** `parts` as one batch frame, shared with any connection due the very same parts. */
  join(parts: string[]): string {
    const n = parts.length;
    const seen = this.#batches.get(n);
    if (seen) {
      for (const earlier of seen) if (sameParts(earlier.parts, parts)) return earlier.frame;
    }
    const frame = encodeBatch(parts);
    if (!seen) this.#batches.set(n, [{ parts, frame }]);
    else if (seen.length < BATCHES_PER_LENGTH) seen.push({ parts, frame });
    return frame;
  }

  #flushAll(): void {
    this.#scheduled = false;
    const due = [...this.#dirty];
    this.#dirty.clear();
    for (const conn of due) conn.flush();
    this.#batches.clear();
  }
}

/** Broadcast parts are the very same string objects, so === is a pointer check. */
function sameParts(a: string[], b: string[]): boolean {
  if (a[0] !== b[0] || a[a.length - 1] !== b[b.length - 1]) return false;
  for (let i = 1; i < a.length - 1; i++) if (a[i] !== b[i]) return false;
  return true;
}
