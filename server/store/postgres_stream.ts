/**
 * Reads and retention of a room's stream in the PostgreSQL store, each one statement:
 * a page of history, unread counts, and pruning.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import type { Retention } from "../../protocol/messages.ts";
import { DAY_MS } from "./entries.ts";
import { type EntryRow, toMessage } from "./postgres_batch.ts";
import type { Sql } from "./postgres_schema.ts";
import type { HistoryPage, HistoryQuery } from "./types.ts";

export async function readHistory(
  sql: Sql,
  epoch: string,
  room: string,
  query: HistoryQuery,
): Promise<HistoryPage> {
  const limit = query.limit + 1;
  const before = query.before ?? Number.MAX_SAFE_INTEGER;
  const forward = query.after !== undefined;
  // One statement, one snapshot. No row: no such room; one row of NULLs: no entries.
  const rows = await sql<(EntryRow | { [K in keyof EntryRow]: null })[]>`
    SELECT e.* FROM rooms r LEFT JOIN LATERAL (
      SELECT * FROM entries
      WHERE room = r.name AND seq < ${before}::int8 AND seq > ${query.after ?? 0}::int8
      ORDER BY seq ${forward ? sql`ASC` : sql`DESC`} LIMIT ${limit}::int8
    ) e ON true
    WHERE r.name = ${room} AND r.deleting_until IS NULL`;
  if (rows.length === 0) throw new ProtocolError("room_not_found", `No room named "${room}".`);
  const entries = rows.filter((r): r is EntryRow => r.seq !== null);
  const hasMore = entries.length > query.limit;
  const kept = entries.slice(0, query.limit);
  if (!forward) kept.reverse();
  return { messages: kept.map((r) => toMessage(epoch, r)), hasMore };
}

/** Text entries by others after the user's marker, counting at most `cap`. */
export async function countUnread(
  sql: Sql,
  room: string,
  userId: string,
  cap: number,
): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    SELECT count(*)::int8 AS count FROM (
      SELECT 1 FROM entries
      WHERE room = ${room} AND kind = 'text' AND NOT deleted AND author_id <> ${userId}
        AND seq > coalesce((SELECT seq FROM read_markers
          WHERE room = ${room} AND user_id = ${userId}), 0)
      LIMIT ${cap}::int8
    ) AS unread`;
  return row?.count ?? 0;
}

/** What one try at pruning did; `bumped` false with `needed` true means: try again. */
export interface PruneAttempt {
  found: boolean;
  needed: boolean;
  bumped: boolean;
  removed: number;
}

/**
 * Compute the first seq to keep and move first_seq there, in one statement, only if the
 * room's version is still the one it read: else an append or another prune got in
 * between (the caller tries again).
 */
export async function pruneOnce(
  sql: Sql,
  room: string,
  retention: Retention,
  now: number,
): Promise<PruneAttempt> {
  const maxCount = retention.maxCount ?? null;
  const cutoff = retention.maxAgeDays === undefined
    ? null
    : Math.ceil(now - retention.maxAgeDays * DAY_MS); // ts are whole ms
  const [row] = await sql<PruneAttempt[]>`
    WITH cur AS (
      SELECT name, version, first_seq, last_seq,
        greatest(first_seq, last_seq - coalesce(${maxCount}::int8, last_seq) + 1) AS by_count
      FROM rooms WHERE name = ${room} AND deleting_until IS NULL
    ),
    cut AS (
      -- The oldest entry young enough is the first kept; all before it go.
      SELECT cur.*, CASE WHEN ${cutoff}::int8 IS NULL THEN by_count
        ELSE coalesce((SELECT min(seq) FROM entries
          WHERE entries.room = cur.name AND seq >= by_count AND ts >= ${cutoff}::int8),
          last_seq + 1) END AS keep
      FROM cur
    ),
    bumped AS (
      UPDATE rooms r SET first_seq = cut.keep, version = r.version + 1
      FROM cut
      WHERE r.name = cut.name AND r.version = cut.version AND cut.keep > cut.first_seq
      RETURNING r.name, cut.keep
    ),
    gone AS (
      DELETE FROM entries e USING bumped
      WHERE e.room = bumped.name AND e.seq < bumped.keep
      RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM cut) AS found,
      coalesce((SELECT keep > first_seq FROM cut), false) AS needed,
      EXISTS (SELECT 1 FROM bumped) AS bumped,
      (SELECT count(*)::int8 FROM gone) AS removed`;
  return row!;
}
