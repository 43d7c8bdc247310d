/**
 * The KV store's search index, written after the commit instead of in it: a new text
 * message's word, author and reply postings cost about ten KV rows, which made every
 * commit several times slower. Commits mark their rooms; shortly after, this writes the
 * rows for each room's entries past its ["sxi", room] marker, in commits of its own that
 * check only the marker, so live commits never wait or retry for it. A search first
 * catches its rooms up, so it still finds every message committed before it was asked.
 * Mention rows stay in the entry's own commit: unread mention counts must be exact at once.
 */
import { sleep } from "../sleep.ts";
import { indexSome } from "./kv_backfill.ts";

/** How long the index may trail the commits when nobody searches. */
const DELAY_MS = 50;
/** Lost races after which a room is left to the next round. */
const MAX_LOST = 20;
export const INDEX_MARKER = "sxi";

export class KvIndexer {
  readonly #kv: Deno.Kv;
  readonly #dirty = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** `room` has new entries to index. */
  touched(room: string): void {
    if (this.#closed) return;
    this.#dirty.add(room);
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      const rooms = [...this.#dirty];
      this.#dirty.clear();
      this.#running = this.#running.then(() => this.catchUp(rooms));
    }, DELAY_MS);
  }

  /** Index `rooms` up to their last committed seq. */
  async catchUp(rooms: Iterable<string>): Promise<void> {
    await Promise.all([...rooms].map((room) => this.#index(room)));
  }

  /** Stop scheduling; resolves when the work in flight is done. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  async #index(room: string): Promise<void> {
    for (let lost = 0; lost < MAX_LOST;) {
      const step = await indexSome(this.#kv, room, INDEX_MARKER, false).catch(() => -1 as const);
      if (step === "done") return;
      if (step < 0) {
        lost++;
        await sleep(Math.random() * 2 ** Math.min(lost, 6));
      }
    }
  }
}
