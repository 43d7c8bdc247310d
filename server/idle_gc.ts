/**
 * One full garbage collection once a connect storm is over and the server has gone quiet.
 *
 * Thousands of sockets connecting, saying hello and joining (a restart's reconnects, say)
 * leave V8's heap at up to four times what it holds live: whatever the upgrades, joins and
 * presence diffs allocated that outlived a couple of young-generation collections sits in
 * the old generation until the next full one, and V8 then sets the next limit at up to
 * four times what survived. V8's memory reducer would give it back once the mutator looks
 * idle, but ten thousand idle sockets never look idle to it (Deno's keep-alive pings
 * allocate steadily), so that took twenty seconds or more, or never came.
 *
 * This collects once, when all of these hold:
 * - at least `minSockets` sockets opened since the last storm ended;
 * - for `quietMs`, no socket opened, no frame but a heartbeat arrived, and no request
 *   was left unanswered (a storm stalled on its store is not over);
 * - the heap grew by at least `minGrowthBytes`, and by half, past what the last
 *   collection left;
 * - `minIntervalMs` passed since the last collection.
 * The collection is V8's memory-reducing one (what `gc({flavor: "last-resort"})` runs
 * under `--expose-gc`), in a task of its own, so never inside a request. Its pause, about
 * 0.6 s after a storm of ten thousand sockets (90 MB live), falls when nothing is asked.
 * A timer runs only while a storm is being waited out: an idle server has none.
 * createApp makes one per server when it is given a collector (server.ts gives V8's).
 */
import type { Logger } from "./log.ts";

/** A full, memory-reducing collection, settling when done. */
export type CollectGarbage = () => Promise<void> | void;

/** What the sessions of a server tell it about their sockets. */
export interface SocketActivity {
  /** A socket opened. */
  opened(): void;
  /** A frame other than a heartbeat arrived. */
  busy(): void;
  /** A session now has requests in flight (true), or has answered them all (false). */
  waiting(pending: boolean): void;
  /** Prometheus lines for /metrics. */
  metrics?(): string[];
}

export interface IdleGcOptions {
  collect: CollectGarbage;
  log: Logger;
  /** V8 heap bytes in use (Deno.memoryUsage().heapUsed). */
  heapUsed?: () => number;
  now?: () => number;
  /** Sockets opened since the last storm that make a storm (500). */
  minSockets?: number;
  /** How long nothing but heartbeats must arrive (1 s). */
  quietMs?: number;
  /** How often a storm's end is looked for while one is under way (250 ms). */
  tickMs?: number;
  /** Shortest time between two collections (10 s). */
  minIntervalMs?: number;
  /** Least heap growth worth a collection (32 MiB). */
  minGrowthBytes?: number;
}

export class IdleGc implements SocketActivity {
  readonly #collect: CollectGarbage;
  readonly #log: Logger;
  readonly #heapUsed: () => number;
  readonly #now: () => number;
  readonly #minSockets: number;
  readonly #quietMs: number;
  readonly #tickMs: number;
  readonly #minIntervalMs: number;
  readonly #minGrowthBytes: number;
  /** Sockets opened since the last storm ended. */
  #opened = 0;
  /** Frames and sockets so far; the timer only compares it with what it saw last. */
  #events = 0;
  #seen = -1;
  /** Sessions with requests in flight: a server waiting on its store is not quiet. */
  #waiting = 0;
  #quietSince = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastAt = -Infinity;
  /** Heap in use after the last collection (at start: when created). */
  #leftBytes: number;
  #collecting = false;
  #stopped = false;
  #collections = 0;
  #collectMs = 0;

  constructor(options: IdleGcOptions) {
    this.#collect = options.collect;
    this.#log = options.log;
    this.#heapUsed = options.heapUsed ?? (() => Deno.memoryUsage().heapUsed);
    this.#now = options.now ?? (() => performance.now());
    this.#minSockets = options.minSockets ?? 500;
    this.#quietMs = options.quietMs ?? 1000;
    this.#tickMs = options.tickMs ?? 250;
    this.#minIntervalMs = options.minIntervalMs ?? 10_000;
    this.#minGrowthBytes = options.minGrowthBytes ?? 32 * 1024 * 1024;
    this.#leftBytes = this.#heapUsed();
  }

  opened(): void {
    this.#events++;
    if (++this.#opened >= this.#minSockets) this.#arm();
  }

  busy(): void {
    this.#events++;
  }

  waiting(pending: boolean): void {
    this.#waiting += pending ? 1 : -1;
  }

  /** Collections run, and the seconds they took, as Prometheus lines. */
  metrics(): string[] {
    return [
      "# TYPE parley_idle_gc_total counter",
      `parley_idle_gc_total ${this.#collections}`,
      "# TYPE parley_idle_gc_seconds_total counter",
      `parley_idle_gc_seconds_total ${(this.#collectMs / 1000).toFixed(3)}`,
    ];
  }

  /** No more timers; a collection under way finishes. */
  stop(): void {
    this.#stopped = true;
    this.#disarm();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#seen = -1;
    const timer = setInterval(() => this.#tick(), this.#tickMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #disarm(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = this.#now();
    if (this.#events !== this.#seen || this.#waiting > 0) {
      this.#seen = this.#events;
      this.#quietSince = now;
      return;
    }
    if (this.#collecting || now - this.#quietSince < this.#quietMs) return;
    if (now - this.#lastAt < this.#minIntervalMs) return;
    // The storm is over: whatever is decided, the next one counts its sockets afresh.
    this.#opened = 0;
    this.#disarm();
    const used = this.#heapUsed();
    const grown = used - this.#leftBytes;
    if (grown < this.#minGrowthBytes || grown < this.#leftBytes / 2) return;
    this.#lastAt = now;
    this.#run(used).catch((error) => this.#log.warn("idle collection failed", { error }));
  }

  async #run(before: number): Promise<void> {
    this.#collecting = true;
    const started = performance.now();
    try {
      await this.#collect();
    } finally {
      this.#collecting = false;
    }
    const ms = performance.now() - started;
    this.#leftBytes = this.#heapUsed();
    this.#collections++;
    this.#collectMs += ms;
    this.#log.info("collected after a connect storm", {
      heapBeforeMiB: Math.round(before / 1048576),
      heapAfterMiB: Math.round(this.#leftBytes / 1048576),
      ms: Math.round(ms),
    });
  }
}

/**
 * V8's `gc` when the process runs with `--expose-gc` (as V8_FLAGS has it), as a
 * memory-reducing collection in a task of its own; undefined without the flag.
 */
export function exposedGc(): CollectGarbage | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== "function") return undefined;
  return () => gc({ type: "major", execution: "async", flavor: "last-resort" });
}
