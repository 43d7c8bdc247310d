/**
 * Search backfill for the KV store. Entries stored before the posting blocks
 * (kv_postings.ts) have no ["sp", ...] rows, so search would not find them. On open, a
 * background job removes the index rows of the earlier format (one row per message and
 * word, under ["sx"], with its markers ["sxb"] and ["sxi"]), then runs passes
 * (kv_index_pass.ts) over every room from its ["spi", room] marker, exactly as the live
 * indexer does, and sets ["meta", "search-index"] to INDEX_VERSION, so later opens cost
 * one read.
 *
 * - Resumable: the markers keep each room's progress.
 * - Safe beside live traffic and other processes: every pass checks the room's marker,
 *   so passes from the job, the live indexer and other handles line up.
 * - A search meanwhile catches its own rooms up first, so it finds everything.
 */
import type { Logger } from "../log.ts";
import { indexPass } from "./kv_index_pass.ts";
import { untilUnlocked } from "./kv_retry.ts";
import { sleep } from "../sleep.ts";

export const INDEX_DONE_KEY: Deno.KvKey = ["meta", "search-index"];
/** 1: a row per message and word (["sx"]); 2: posting blocks (["sp"]). */
export const INDEX_VERSION = 2;
const OLD_PREFIXES: Deno.KvKey[] = [["sx"], ["sxb"], ["sxi"]];

export interface KvBackfillOptions {
  /** Pause between commits, so live traffic keeps its share (default 2 ms). */
  pauseMs?: number;
  log?: Pick<Logger, "info" | "warn">;
  /** Stops the job, after its current commit. */
  signal?: AbortSignal;
}

/**
 * Whether this store may hold entries without postings. A store with no rooms yet has
 * none, and is marked done at once, so a new store never runs the job.
 */
export async function needsBackfill(kv: Deno.Kv): Promise<boolean> {
  if ((await kv.get(INDEX_DONE_KEY)).value === INDEX_VERSION) return false;
  for await (const _ of kv.list({ prefix: ["room"] }, { limit: 1 })) return true;
  // A room made from now on is indexed by the live indexer.
  await untilUnlocked(() => kv.set(INDEX_DONE_KEY, INDEX_VERSION));
  return false;
}

/** Index every room's entries that lack postings; resolves with the entries gone through. */
export async function backfillIndex(kv: Deno.Kv, options: KvBackfillOptions = {}): Promise<number> {
  const { signal, log } = options;
  if ((await kv.get(INDEX_DONE_KEY)).value === INDEX_VERSION) return 0;
  const pause = () => sleep(options.pauseMs ?? 2, signal);
  const started = performance.now();
  let entries = 0;
  let logged = false;
  for (const prefix of OLD_PREFIXES) {
    if (signal?.aborted) return entries;
    await deletePrefix(kv, prefix, pause);
  }
  const rooms: string[] = [];
  for await (const e of kv.list({ prefix: ["room"] })) rooms.push(e.key[1] as string);
  for (const room of rooms) {
    for (;;) {
      if (signal?.aborted) return entries;
      const pass = await indexPass(kv, [room]);
      if (pass?.entries && !logged) {
        log?.info("search backfill: indexing messages stored before the posting blocks");
        logged = true;
      }
      entries += pass?.entries ?? 0;
      if (pass?.behind.length === 0) break;
      await pause();
    }
  }
  if (signal?.aborted) return entries;
  await untilUnlocked(() => kv.set(INDEX_DONE_KEY, INDEX_VERSION));
  if (logged) {
    log?.info("search backfill: done", { entries, ms: Math.round(performance.now() - started) });
  }
  return entries;
}

async function deletePrefix(kv: Deno.Kv, prefix: Deno.KvKey, pause: () => Promise<void>) {
  for (;;) {
    const keys: Deno.KvKey[] = [];
    for await (const e of kv.list({ prefix }, { limit: 500 })) keys.push(e.key);
    if (keys.length === 0) return;
    const op = kv.atomic();
    for (const key of keys) op.delete(key);
    await untilUnlocked(() => op.commit());
    await pause();
  }
}
