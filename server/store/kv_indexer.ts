/**
 * Keeps the KV store's search postings (kv_postings.ts) behind the commits, not in them.
 * Commits mark their rooms; a second later, passes (kv_index_pass.ts) index the marked
 * rooms past their ["spi", room] markers, one commit after another. Waiting lets one pass cover many messages, so a
 * posting common to them costs one row. A search first catches its rooms up, so it still
 * finds every message committed before it was asked.
 * Mention rows stay in the entry's own commit: unread mention counts must be exact at once.
 */
import { sleep } from "../sleep.ts";
import { indexPass } from "./kv_index_pass.ts";

/** How long the index may trail the commits when nobody searches. */
const DELAY_MS = 1000;
/** Lost races after which a room is left to the next round. */
const MAX_LOST = 20;

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
    await catchUpRooms(this.#kv, [...rooms]);
  }

  /** Stop scheduling; resolves when the work in flight is done. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}

/** Index `rooms` to their last seqs: passes until done, backing off after lost races. */
export async function catchUpRooms(kv: Deno.Kv, rooms: readonly string[]): Promise<number> {
  let entries = 0;
  let behind = [...rooms];
  for (let lost = 0; behind.length > 0 && lost < MAX_LOST;) {
    const pass = await indexPass(kv, behind).catch(() => null);
    if (pass) {
      entries += pass.entries;
      behind = pass.behind;
    } else {
      lost++;
      await sleep(Math.random() * 2 ** Math.min(lost, 6));
    }
  }
  return entries;
}
