/**
 * The composer's completions: `@name` from the room's members (and `@room` for
 * moderators), `:sh` from emoji shortcodes. Pure text work, plus a small cache of
 * each room's member names; the Composer island does the rest.
 */
import type { Member, Message } from "../../protocol/messages.ts";

/** What is being completed at the caret: the word after `@` or `:`, and where it is. */
export interface Token {
  kind: "@" | ":";
  /** What was typed after the sigil. */
  query: string;
  /** Index of the sigil. */
  start: number;
  /** Index just after the typed word (the caret). */
  end: number;
}

/** Characters of a name (usernames are letters, digits, `.`, `_` and `-`). */
const NAME_CHAR = /[\p{L}\p{N}._-]/u;
const CODE_CHAR = /[a-z0-9_+-]/i;

/**
 * The token ending at `caret` in `text`, or null. `@` completes from nothing typed on;
 * `:` only after two characters, so "a:b" and smileys such as ":)" are left alone. The
 * sigil must start the text or follow whitespace or an opening bracket.
 */
export function tokenAt(text: string, caret: number): Token | null {
  let i = caret;
  while (i > 0 && (NAME_CHAR.test(text[i - 1]!) || CODE_CHAR.test(text[i - 1]!))) i--;
  const sigil = text[i - 1];
  if (sigil !== "@" && sigil !== ":") return null;
  const before = text[i - 2];
  if (before !== undefined && !/[\s([{]/u.test(before)) return null;
  const query = text.slice(i, caret);
  if (sigil === "@") {
    if (![...query].every((c) => NAME_CHAR.test(c))) return null;
    return { kind: "@", query, start: i - 1, end: caret };
  }
  if (query.length < 2 || ![...query].every((c) => CODE_CHAR.test(c))) return null;
  return { kind: ":", query: query.toLowerCase(), start: i - 1, end: caret };
}

/** `text` with `token` replaced by `insert` and a space; the new caret position. */
export function replaceToken(
  text: string,
  token: Token,
  insert: string,
): { text: string; caret: number } {
  const after = text.slice(token.end);
  const spaced = after.startsWith(" ") ? insert : `${insert} `;
  const head = text.slice(0, token.start) + spaced;
  return { text: head + after, caret: head.length + (after.startsWith(" ") ? 1 : 0) };
}

/** One entry of the `@` list. */
export interface MentionOption {
  /** What goes after the `@`. */
  name: string;
  /** Shown beside it, e.g. "Everyone in the room". */
  hint?: string;
}

/**
 * Members whose name starts with `query` (any case) first, then those containing it;
 * sorted by name within each; never `self`. `@room` leads when offered and matching.
 */
export function matchMentions(
  members: readonly Member[],
  query: string,
  options: { self?: string; room?: boolean; limit?: number } = {},
): MentionOption[] {
  const q = query.toLowerCase();
  const limit = options.limit ?? 8;
  const seen = new Set<string>();
  const starts: Member[] = [];
  const contains: Member[] = [];
  for (const m of members) {
    const name = m.name.toLowerCase();
    if (m.id === options.self || seen.has(name)) continue;
    seen.add(name);
    if (name.startsWith(q)) starts.push(m);
    else if (q !== "" && name.includes(q)) contains.push(m);
  }
  const byName = (a: Member, b: Member) => a.name.localeCompare(b.name);
  const out: MentionOption[] = [];
  if (options.room && "room".startsWith(q)) {
    out.push({ name: "room", hint: "Everyone in the room" });
  }
  for (const m of [...starts.sort(byName), ...contains.sort(byName)]) out.push({ name: m.name });
  return out.slice(0, limit);
}

/** Whether a text message mentions the user named `name` (or the whole room). */
export function mentionsUser(message: Message, name: string | undefined): boolean {
  if (message.kind !== "text" || message.deleted || !message.mentions) return false;
  const me = name?.toLowerCase();
  return message.mentions.some((m) => m === "room" || m === me);
}

/** How long a room's member list is trusted before it is asked for again. */
const MEMBERS_TTL_MS = 60_000;
const memberCache = new Map<string, { at: number; members: Promise<Member[]> }>();

/**
 * The members of `room`, through `fetch` at most once a minute per room; a failed
 * fetch is forgotten at once so the next call tries again.
 */
export function cachedMembers(
  room: string,
  fetch: (room: string) => Promise<Member[]>,
  now = Date.now(),
): Promise<Member[]> {
  const held = memberCache.get(room);
  if (held && now - held.at < MEMBERS_TTL_MS) return held.members;
  const members = fetch(room);
  memberCache.set(room, { at: now, members });
  members.catch(() => {
    if (memberCache.get(room)?.members === members) memberCache.delete(room);
  });
  return members;
}

/** Forget every cached member list (signed out). */
export function clearMemberCache(): void {
  memberCache.clear();
}
