/**
 * Search and unread mentions in the PostgreSQL store, each one statement. A message's
 * words are in `terms` (searchTerms, written with the entry and rewritten by its edits;
 * NULL once deleted) under a GIN index; replies, authors and plain date ranges have
 * btree indexes of their own (migration 3 in postgres_schema.ts), and the result order
 * across rooms one too (entries_newest, migration 4). The planner picks, seeing each
 * search's own values: rare words through GIN then a sort of the few matches; common ones
 * down entries_newest, newest first, stopping at a page (it reads about limit / share
 * of messages matching). Words each common but rarely together would make that second
 * plan read far; the planner's element statistics assume independent words.
 */
import { type EntryRow, toMessage } from "./postgres_batch.ts";
import type { Sql } from "./postgres_schema.ts";
import type { SearchPage, SearchQuery } from "./types.ts";

export async function searchEntries(
  sql: Sql,
  epoch: string,
  q: SearchQuery,
): Promise<SearchPage> {
  const rooms = [...new Set(q.rooms)];
  if (rooms.length === 0 || q.limit <= 0) return { messages: [], hasMore: false };
  const params: unknown[] = [];
  const $ = (value: unknown, type: string) => {
    params.push(value);
    return `$${params.length}::${type}`;
  };
  const where = [
    `e.room IN (SELECT name FROM rooms WHERE name = ANY(${$(rooms, "text[]")})
      AND deleting_until IS NULL)`,
    "e.kind = 'text' AND NOT e.deleted",
  ];
  if (q.terms.length > 0) where.push(`e.terms @> ${$([...new Set(q.terms)], "text[]")}`);
  if (q.author !== undefined) where.push(`e.author_id = ${$(q.author, "text")}`);
  if (q.from !== undefined) where.push(`e.ts >= ${$(q.from, "int8")}`);
  if (q.to !== undefined) where.push(`e.ts < ${$(q.to, "int8")}`);
  if (q.replyTo !== undefined) where.push(`e.reply_to = ${$(q.replyTo, "int8")}`);
  const c = q.before;
  if (c) {
    const ts = $(c.ts, "int8");
    const room = $(c.room, "text");
    where.push(`(e.ts < ${ts} OR (e.ts = ${ts} AND (e.room > ${room}
      OR (e.room = ${room} AND e.seq < ${$(c.seq, "int8")}))))`);
  }
  // Unnamed (prepare: false), so every search is planned for its own terms and rooms. A
  // named statement turns generic after five runs: planned blind, it looped over the
  // rooms re-reading the terms' whole GIN posting each time (seconds for common words).
  const rows = await sql.unsafe<EntryRow[]>(
    `SELECT e.room, e.seq, e.kind, e.author_id, e.author_name, e.text, e.ts, e.nonce,
       e.target, e.edited_at, e.deleted, e.extra
     FROM entries e
     WHERE ${where.join("\n       AND ")}
     ORDER BY e.ts DESC, e.room ASC, e.seq DESC
     LIMIT ${$(q.limit + 1, "int8")}`,
    params as never[],
    { prepare: false },
  );
  return {
    messages: rows.slice(0, q.limit).map((r) => toMessage(epoch, r)),
    hasMore: rows.length > q.limit,
  };
}

/** Text entries by others after the user's marker that mention any of `names`, to `cap`. */
export async function countMentions(
  sql: Sql,
  room: string,
  userId: string,
  names: string[],
  cap: number,
): Promise<number> {
  if (names.length === 0 || cap <= 0) return 0;
  const [row] = await sql<{ count: number }[]>`
    SELECT count(*)::int8 AS count FROM (
      SELECT 1 FROM entries
      WHERE room = ${room} AND kind = 'text' AND NOT deleted AND author_id <> ${userId}
        AND seq > coalesce((SELECT seq FROM read_markers
          WHERE room = ${room} AND user_id = ${userId}), 0)
        AND extra->'mentions' ?| ${names}::text[]
      LIMIT ${cap}::int8
    ) AS mentioned`;
  return row?.count ?? 0;
}
