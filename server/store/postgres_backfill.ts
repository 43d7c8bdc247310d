/**
 * Search backfill for the PostgreSQL store. Entries written before migration 3 have NULL
 * `terms`, so search never finds them. On open, a background job fills them in, by
 * primary key in bounded batches, with the words computed here by searchTerms (the one
 * rule every store follows, which SQL could not reproduce).
 *
 * - Cheap once done: the backlog is what the partial index `entries_unindexed`
 *   (migration 4) holds, so "anything left?" is one probe of an empty index.
 * - Safe beside live writes: each batch is one UPDATE that only touches rows still
 *   unindexed, live and holding the text read. An edit, reaction or delete in between
 *   writes `terms` itself (or clears the row from the backlog), and wins.
 * - Safe with several processes: one at a time holds a session advisory lock; the others
 *   look again later, and take over should the holder die. Running it twice is harmless.
 * - Not in the way: startup does not wait for it; it pauses between batches and stops
 *   (after its current batch) when the store closes. It logs when it starts and ends.
 *
 * Replies and mentions need nothing: entries from before migration 3 could hold neither.
 */
import type { Logger } from "../log.ts";
import type { Sql } from "./postgres_schema.ts";
import { searchTerms } from "./search_terms.ts";
import { sleep } from "../sleep.ts";

/** Any number, the same in every process: the key of the backfill's lock. */
const BACKFILL_LOCK = 7_243_950_113;

export interface BackfillOptions {
  /** Rows per UPDATE (default 1000). */
  batch?: number;
  /** Pause between batches, so live traffic keeps its share (default 5 ms). */
  pauseMs?: number;
  /** How long to wait before looking again when another process holds the lock or
   * PostgreSQL is unavailable (default 10 s). */
  retryMs?: number;
  log?: Pick<Logger, "info" | "warn">;
  /** Stops the job, after its current batch. */
  signal?: AbortSignal;
}

/** Fill in `terms` for every unindexed text entry; resolves with how many this run did. */
export async function backfillTerms(sql: Sql, options: BackfillOptions = {}): Promise<number> {
  const { signal, log } = options;
  let total = 0;
  while (!signal?.aborted) {
    try {
      const [left] = await sql`
        SELECT 1 AS one FROM entries
        WHERE terms IS NULL AND kind = 'text' AND NOT deleted LIMIT 1`;
      if (!left) return total;
      const done = await underLock(sql, options, (n) => total += n);
      if (done) return total;
    } catch (error) {
      if (signal?.aborted) break;
      log?.warn("search backfill: failed, will try again", { error });
    }
    await sleep(options.retryMs ?? 10_000, signal);
  }
  return total;
}

/** One run holding the lock: true when the backlog is empty, false if another has it. */
async function underLock(
  sql: Sql,
  options: BackfillOptions,
  count: (n: number) => void,
): Promise<boolean> {
  const { signal, log } = options;
  const limit = options.batch ?? 1000;
  const db = await sql.reserve();
  try {
    const [lock] = await db<{ locked: boolean }[]>`
      SELECT pg_try_advisory_lock(${BACKFILL_LOCK}::int8) AS locked`;
    if (!lock?.locked) return false;
    try {
      const started = performance.now();
      let rows = 0;
      let after = { room: "", seq: 0 };
      log?.info("search backfill: indexing messages stored before search");
      for (;;) {
        if (signal?.aborted) return false;
        const batch = await db<{ room: string; seq: number; text: string }[]>`
          SELECT room, seq, text FROM entries
          WHERE terms IS NULL AND kind = 'text' AND NOT deleted
            AND (room, seq) > (${after.room}, ${after.seq}::int8)
          ORDER BY room, seq
          LIMIT ${limit}::int8`;
        if (batch.length === 0) break;
        const values = batch.map((r) => ({ ...r, terms: searchTerms(r.text) }));
        const updated = await db.unsafe(
          `UPDATE entries e SET terms = x.terms
           FROM jsonb_to_recordset($1::text::jsonb)
             AS x(room text, seq int8, text text, terms text[])
           WHERE e.room = x.room AND e.seq = x.seq AND e.terms IS NULL AND e.kind = 'text'
             AND NOT e.deleted AND e.text = x.text`,
          [JSON.stringify(values)],
        );
        rows += updated.count;
        count(updated.count);
        const last = batch.at(-1)!;
        after = { room: last.room, seq: last.seq };
        if (batch.length < limit) break;
        await sleep(options.pauseMs ?? 5, signal);
      }
      log?.info("search backfill: done", {
        rows,
        ms: Math.round(performance.now() - started),
      });
      return true;
    } finally {
      await db`SELECT pg_advisory_unlock(${BACKFILL_LOCK}::int8)`.catch(() => {});
    }
  } finally {
    db.release();
  }
}
