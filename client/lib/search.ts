/**
 * Message search: the words typed, turned into the `search` frame's fields, and the
 * results' excerpts with those words marked. The Search dialog renders them.
 */
import type { RequestBody } from "../../protocol/messages.ts";

/** The words of a query, lower-case, each once (the server matches whole words, any case). */
export function searchTerms(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  return [...new Set(words)];
}

/** One run of an excerpt: marked when it is one of the terms. */
export interface Segment {
  text: string;
  mark: boolean;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `text` cut into runs, the whole-word occurrences of `terms` (any case) marked. */
export function highlight(text: string, terms: readonly string[]): Segment[] {
  if (terms.length === 0 || text === "") return text === "" ? [] : [{ text, mark: false }];
  const alternatives = [...terms].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const pattern = new RegExp(
    `(?<![\\p{L}\\p{N}_])(?:${alternatives.join("|")})(?![\\p{L}\\p{N}_])`,
    "giu",
  );
  const out: Segment[] = [];
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > at) out.push({ text: text.slice(at, match.index), mark: false });
    out.push({ text: match[0], mark: true });
    at = match.index + match[0].length;
  }
  if (at < text.length) out.push({ text: text.slice(at), mark: false });
  return out;
}

/**
 * At most `max` characters of `text` (whitespace folded), around the first term found:
 * long messages show the part that matched, with "…" where something was left out.
 */
export function excerpt(text: string, terms: readonly string[], max = 180): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const lower = flat.toLowerCase();
  const hits = terms.map((t) => lower.indexOf(t)).filter((i) => i >= 0);
  const first = hits.length ? Math.min(...hits) : 0;
  const start = Math.max(0, Math.min(first - Math.floor(max / 3), flat.length - max));
  const end = Math.min(flat.length, start + max);
  return `${start > 0 ? "…" : ""}${flat.slice(start, end).trim()}${end < flat.length ? "…" : ""}`;
}

/** What the search form holds. */
export interface SearchForm {
  text: string;
  /** Only the current room, else every room the user is a member of. */
  here: boolean;
  /** The author's user id, once their name was looked up. */
  author?: string;
  /** Dates as an `<input type="date">` gives them (YYYY-MM-DD), local time; "" for none. */
  from: string;
  to: string;
}

/** Midnight, local time, at the start of `date` (YYYY-MM-DD); undefined for "" or nonsense. */
export function dayStart(date: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  const ms = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** The `search` frame's body for `form`: `to` includes the whole of its day. */
export function searchBody(
  form: SearchForm,
  room: string | null,
  cursor?: string,
): RequestBody<"search"> {
  const body: RequestBody<"search"> = {};
  const text = form.text.trim();
  if (text) body.text = text;
  if (form.here && room) body.room = room;
  if (form.author) body.author = form.author;
  const from = dayStart(form.from);
  if (from !== undefined) body.from = from;
  const to = dayStart(form.to);
  if (to !== undefined) body.to = to + 24 * 60 * 60 * 1000;
  if (cursor) body.cursor = cursor;
  return body;
}

/** Whether the form asks anything at all (a search of everything says nothing useful). */
export function hasCriteria(form: SearchForm): boolean {
  return form.text.trim() !== "" || form.author !== undefined || form.from !== "" ||
    form.to !== "";
}
