/**
 * Search backfill for the KV store. Entries written before the index existed have no
 * ["sx", ...] or ["mx", ...] rows (kv_search.ts), so search never finds them. On open, a
 * background job walks each room's chunks and writes the rows indexRows gives for each
 * entry as it is now: exactly what a live commit would have written.
 *
 * - Resumable: ["sxb", room] -> the seq up to which the room is indexed; the job goes on
 *   from there. Once every room is done it sets ["meta", "search-index"] and clears the
 *   markers, so later opens cost one read.
 * - Bounded: each atomic commit holds at most ~900 mutations and ~70 KiB of keys.
 * - No race with live commits: every commit checks the room's seq key (and the marker) as
 *   read before the chunks, and rewrites the seq key with the same value, as retention
 *   does. An append, edit, delete or prune that lands in between fails the check (the job
 *   re-reads and redoes its commit), and one that comes after re-reads the seq key, so it
 *   moves the index from what the job wrote. Rooms made after this code shipped are
 *   indexed by their commits already; walking them once more rewrites the same rows.
 * - Several processes may run it at once: the checks make their commits line up, and a
 *   row written twice is the same row.
 */
import type { Message } from "../../protocol/messages.ts";
import type { Logger } from "../log.ts";
import { indexRows, keyBytes } from "./kv_search.ts";
import { untilUnlocked } from "./kv_retry.ts";
import { sleep } from "../sleep.ts";

const MAX_MUTATIONS = 900;
const MAX_KEY_BYTES = 70 * 1024;
const SEQ_END = Number.MAX_SAFE_INTEGER;
export const INDEX_DONE_KEY: Deno.KvKey = ["meta", "search-index"];

export interface KvBackfillOptions {
  /** Pause between commits, so live traffic keeps its share (default 2 ms). */
  pauseMs?: number;
  log?: Pick<Logger, "info" | "warn">;
  /** Stops the job, after its current commit. */
  signal?: AbortSignal;
}

/**
 * Whether this store may hold entries without index rows. A store with no rooms yet has
 * none, and is marked done at once, so a new store never runs the job.
 */
export async function needsBackfill(kv: Deno.Kv): Promise<boolean> {
  if ((await kv.get(INDEX_DONE_KEY)).versionstamp !== null) return false;
  for await (const _ of kv.list({ prefix: ["room"] }, { limit: 1 })) return true;
  // A room made from now on is indexed by its own commits.
  await untilUnlocked(() => kv.set(INDEX_DONE_KEY, 1));
  return false;
}

/** Index every room's entries that lack index rows; resolves with the entries gone through. */
export async function backfillIndex(kv: Deno.Kv, options: KvBackfillOptions = {}): Promise<number> {
  const { signal, log } = options;
  if ((await kv.get(INDEX_DONE_KEY)).versionstamp !== null) return 0;
  const rooms: string[] = [];
  for await (const e of kv.list({ prefix: ["room"] })) rooms.push(e.key[1] as string);
  const started = performance.now();
  let entries = 0;
  let logged = false;
  for (const room of rooms) {
    for (;;) {
      if (signal?.aborted) return entries;
      const step = await indexSome(kv, room);
      if (step === "done") break;
      if (step > 0 && !logged) {
        log?.info("search backfill: indexing messages stored before search");
        logged = true;
      }
      entries += Math.max(step, 0);
      await sleep(options.pauseMs ?? 2, signal);
    }
  }
  if (signal?.aborted) return entries;
  await untilUnlocked(() => kv.set(INDEX_DONE_KEY, 1));
  const markers: Deno.KvKey[] = [];
  for await (const e of kv.list({ prefix: ["sxb"] })) markers.push(e.key);
  for (let i = 0; i < markers.length; i += 500) {
    const op = kv.atomic();
    for (const key of markers.slice(i, i + 500)) op.delete(key);
    await untilUnlocked(() => op.commit());
  }
  if (logged) {
    log?.info("search backfill: done", { entries, ms: Math.round(performance.now() - started) });
  }
  return entries;
}

/**
 * One commit's worth for `room`: the entries gone through (-1 if the commit lost a race and
 * should be tried again), or "done" when the room is indexed to its last seq (or gone).
 * `markerName` keeps the progress. With `guardSeq` the commit checks and rewrites the
 * room's seq key, so no live commit lands between its reads and its writes (the backfill);
 * without, live commits go on undisturbed and the index may briefly hold rows for text
 * that an edit or a delete has just replaced, which every search re-checks anyway.
 */
export async function indexSome(
  kv: Deno.Kv,
  room: string,
  markerName = "sxb",
  guardSeq = true,
): Promise<number | "done"> {
  const [seqEntry, marker] = await kv.getMany<[number, number]>([
    ["seq", room],
    [markerName, room],
  ]);
  if (seqEntry.value === null) return "done"; // deleted meanwhile
  const from = (marker.value ?? 0) + 1;
  const last = seqEntry.value;
  if (from > last) return "done";
  const op = kv.atomic().check(marker);
  if (guardSeq) op.check(seqEntry);
  let mutations = 2;
  let keys = keyBytes(["seq", room]) + keyBytes(["sxb", room, 0]);
  let upTo = from - 1;
  let indexed = 0;
  let full = false;
  // The chunk holding `from` (its key is its first seq) and those after it.
  let start: Deno.KvKey = ["c", room, from];
  const before = { start: ["c", room, 0], end: ["c", room, from + 1] };
  for await (const e of kv.list(before, { reverse: true, limit: 1 })) start = e.key;
  const selector = { start, end: ["c", room, SEQ_END] };
  for await (const { value } of kv.list<Message[]>(selector, { batchSize: 8 })) {
    for (const m of value) {
      if (m.seq < from) continue;
      if (m.seq > last) break;
      const rows = [...indexRows(m).values()];
      const bytes = rows.reduce((n, [key]) => n + keyBytes(key), 0);
      if (
        indexed > 0 && (mutations + rows.length > MAX_MUTATIONS || keys + bytes > MAX_KEY_BYTES)
      ) {
        full = true;
        break;
      }
      for (const [key, v] of rows) op.set(key, v);
      mutations += rows.length;
      keys += bytes;
      upTo = m.seq;
      indexed++;
    }
    if (full) break;
  }
  // Entries pruned away (or never stored) between `from` and `last` need nothing.
  if (!full) upTo = last;
  op.set([markerName, room], upTo);
  if (guardSeq) op.set(["seq", room], last);
  const result = await untilUnlocked(() => op.commit());
  return result.ok ? indexed : -1;
}
