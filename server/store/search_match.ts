/** Matching and ordering rules of SearchQuery, for adapters that scan or re-check entries. */
import type { Message } from "../../protocol/messages.ts";
import { searchTerms } from "./search_terms.ts";
import type { SearchCursor, SearchQuery } from "./types.ts";

/** Whether `entry` (as it is now) answers `query`, cursor aside. */
export function matchesSearch(entry: Message, query: SearchQuery): boolean {
  if (entry.kind !== "text" || entry.deleted) return false;
  if (query.author !== undefined && entry.author.id !== query.author) return false;
  if (query.from !== undefined && entry.ts < query.from) return false;
  if (query.to !== undefined && entry.ts >= query.to) return false;
  if (query.replyTo !== undefined && entry.replyTo?.seq !== query.replyTo) return false;
  if (query.terms.length === 0) return true;
  const words = new Set(searchTerms(entry.text));
  return query.terms.every((term) => words.has(term));
}

/** Result order: ts descending, then room ascending, then seq descending. */
export function searchOrder(a: SearchCursor, b: SearchCursor): number {
  if (a.ts !== b.ts) return b.ts - a.ts;
  if (a.room !== b.room) return a.room < b.room ? -1 : 1;
  return b.seq - a.seq;
}

/** Whether `entry` comes strictly after `cursor` in result order. */
export function afterCursor(entry: SearchCursor, cursor: SearchCursor | undefined): boolean {
  return cursor === undefined || searchOrder(cursor, entry) < 0;
}
