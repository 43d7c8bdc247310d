/**
 * Search and unread mentions in the PostgreSQL store, each one statement. A message's
 * words are in `terms` (searchTerms, written with the entry and rewritten by its edits;
 * NULL once deleted) under a GIN index; replies, authors and plain date ranges have
 * btree indexes of their own (migration 3 in postgres_schema.ts). The planner picks.
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
  const c = q.before;
  const none = sql``;
  const rows = await sql<EntryRow[]>`
    SELECT e.room, e.seq, e.kind, e.author_id, e.author_name, e.text, e.ts, e.nonce, e.target,
      e.edited_at, e.deleted, e.extra
    FROM entries e
    WHERE e.room IN (SELECT name FROM rooms
        WHERE name = ANY(${rooms}::text[]) AND deleting_until IS NULL)
      AND e.kind = 'text' AND NOT e.deleted
      ${q.terms.length > 0 ? sql`AND e.terms @> ${[...new Set(q.terms)]}::text[]` : none}
      ${q.author !== undefined ? sql`AND e.author_id = ${q.author}` : none}
      ${q.from !== undefined ? sql`AND e.ts >= ${q.from}::int8` : none}
      ${q.to !== undefined ? sql`AND e.ts < ${q.to}::int8` : none}
      ${q.replyTo !== undefined ? sql`AND e.reply_to = ${q.replyTo}::int8` : none}
      ${
    c
      ? sql`AND (e.ts < ${c.ts}::int8 OR (e.ts = ${c.ts}::int8 AND (e.room > ${c.room}
          OR (e.room = ${c.room} AND e.seq < ${c.seq}::int8))))`
      : none
  }
    ORDER BY e.ts DESC, e.room ASC, e.seq DESC
    LIMIT ${q.limit + 1}::int8`;
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
