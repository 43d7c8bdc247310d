/**
 * KvStore's inverted index, and the search and mention counts that read it. The index is
 * written in the same atomic commit as the entries that change it (kv.ts), so it never
 * lags behind the stream:
 *
 * - ["sx", room, posting, ts, seq] -> 1 for each text message that is not a tombstone. Its
 *   postings are its words (searchTerms, so every store agrees on what a word is), its
 *   author ("\u0001a" + user id) and, for a reply, what it answers ("\u0001r" + seq).
 *   Words are letters, marks and digits only, so the "\u0001" ones never collide with them.
 *   Within one posting keys sort by ts, then seq: a walk backwards meets messages in
 *   result order, and a date range or a cursor is a key range.
 * - ["mx", room, name, seq] -> author id for each name a message mentions, for
 *   unreadMentions.
 *
 * An edit moves the message's word postings (old words out, new in); a delete removes all
 * of them; retention and room deletion remove those of what they remove.
 */
import type { Message } from "../../protocol/messages.ts";
import { attachReactionsEach } from "./kv_reactions.ts";
import { afterCursor, matchesSearch, searchOrder } from "./search_match.ts";
import { searchTerms } from "./search_terms.ts";
import type { SearchCursor, SearchPage, SearchQuery } from "./types.ts";

const AUTHOR = "\u0001a";
const REPLY = "\u0001r";
const SEQ_END = Number.MAX_SAFE_INTEGER;
/** A search with no posting to walk (dates only) reads at most this many entries. */
export const SCAN_MAX = 20_000;

/** One index row: its key, its value. */
export type IndexRow = [Deno.KvKey, string | number];

/** The index rows of `m` as it is now, by a string of their key (for diffs). */
export function indexRows(m: Message | undefined): Map<string, IndexRow> {
  const rows = new Map<string, IndexRow>();
  if (!m || m.kind !== "text" || m.deleted) return rows;
  for (const row of newEntryRows(m, searchTerms(m.text))) {
    rows.set(`${row[0][0] === "sx" ? "s" : "m"}\n${String(row[0][2])}`, row);
  }
  return rows;
}

/** The index rows of a new text entry whose words are `terms` (searchTerms of its text). */
export function newEntryRows(m: Message, terms: readonly string[]): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const term of terms) rows.push([["sx", m.room, term, m.ts, m.seq], 1]);
  rows.push([["sx", m.room, AUTHOR + m.author.id, m.ts, m.seq], 1]);
  if (m.replyTo) rows.push([["sx", m.room, REPLY + m.replyTo.seq, m.ts, m.seq], 1]);
  for (const name of new Set(m.mentions ?? [])) {
    rows.push([["mx", m.room, name, m.seq], m.author.id]);
  }
  return rows;
}

/** The mention rows of a new text entry (unread mention counts read them). */
export function mentionRows(m: Message): IndexRow[] {
  return [...new Set(m.mentions ?? [])].map((name) => [["mx", m.room, name, m.seq], m.author.id]);
}

/** How many index rows a new text message with `terms` gets, for batch budgets. */
export function indexRowCount(
  draft: { mentions?: string[]; replyTo?: unknown },
  terms: readonly string[],
): number {
  return terms.length + 2 + (draft.mentions?.length ?? 0);
}

/** Rows to write and keys to delete to take the index from `before` to `after`. */
export function indexChanges(
  before: Message | undefined,
  after: Message | undefined,
): { set: IndexRow[]; remove: Deno.KvKey[] } {
  const old = indexRows(before);
  const now = indexRows(after);
  const set: IndexRow[] = [];
  const remove: Deno.KvKey[] = [];
  for (const [id, row] of now) {
    const was = old.get(id);
    if (!was || !sameKey(was[0], row[0]) || was[1] !== row[1]) set.push(row);
  }
  for (const [id, [key]] of old) {
    const next = now.get(id);
    if (!next || !sameKey(next[0], key)) remove.push(key);
  }
  return { set, remove };
}

function sameKey(a: Deno.KvKey, b: Deno.KvKey): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

/** A key's encoded size, roughly (KV caps the keys of one atomic commit at 80 KiB). */
export function keyBytes(key: Deno.KvKey): number {
  let bytes = 0;
  for (const part of key) {
    bytes += typeof part === "string" ? utf8Length(part) + 2 : 10;
  }
  return bytes;
}

function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3; // a surrogate pair: 3 + 3 >= 4
  }
  return bytes;
}

/** Count the messages after `after` by others that mention any of `names`, to `cap`. */
export async function countMentions(
  kv: Deno.Kv,
  room: string,
  userId: string,
  names: readonly string[],
  after: number,
  cap: number,
): Promise<number> {
  const seqs = new Set<number>();
  for (const name of new Set(names)) {
    const selector = { start: ["mx", room, name, after + 1], end: ["mx", room, name, SEQ_END] };
    for await (const e of kv.list<string>(selector, { batchSize: 100 })) {
      if (e.value !== userId) seqs.add(e.key[3] as number);
      if (seqs.size >= cap) return cap;
    }
  }
  return seqs.size;
}

// ---- the query ------------------------------------------------------------------------

/** A match as the index (or a scan) orders it; `message` once loaded. */
interface Hit {
  ts: number;
  seq: number;
  message?: Message;
}

/**
 * Run `query` over the index: per room, walk its postings backwards (intersecting them
 * when there are several), merge the rooms in result order, load and re-check each hit
 * (matchesSearch) as it comes to the front, and stop at limit + 1.
 */
export async function searchKv(kv: Deno.Kv, query: SearchQuery): Promise<SearchPage> {
  const rooms = [...new Set(query.rooms)].sort();
  // A room being deleted (or gone) has no seq key; its leftover index is not read.
  const live = await existing(kv, rooms);
  const chunks = new ChunkReader(kv);
  const postings = [...new Set(query.terms)];
  if (query.author !== undefined) postings.push(AUTHOR + query.author);
  if (query.replyTo !== undefined) postings.push(REPLY + query.replyTo);
  const scanned = { entries: 0 };
  const streams = live.map((room) => ({
    room,
    stream: postings.length > 0
      ? intersect(postings.map((p) => walk(kv, room, p, query)))
      : scan(chunks, room, query, scanned),
    head: undefined as Hit | undefined,
    done: false,
  }));
  await Promise.all(streams.map(async (s) => {
    const next = await s.stream.next();
    if (next.done) s.done = true;
    else s.head = next.value;
  }));
  const found: Message[] = [];
  while (found.length <= query.limit) {
    let best: (typeof streams)[number] | undefined;
    for (const s of streams) {
      if (s.done || !s.head) continue;
      if (
        !best || searchOrder({ ...s.head, room: s.room }, { ...best.head!, room: best.room }) < 0
      ) {
        best = s;
      }
    }
    if (!best) break;
    const hit = best.head!;
    const message = hit.message ?? await chunks.message(best.room, hit.seq);
    // The index is written with the entries, so this only fails for a row left behind by
    // a deletion that never finished; the re-check keeps the answer exact regardless.
    if (message && message.seq === hit.seq && matchesSearch(message, query)) {
      if (afterCursor(message, query.before)) found.push(message);
    }
    const next = await best.stream.next();
    if (next.done) best.done = true;
    else best.head = next.value;
  }
  for (const s of streams) await s.stream.return(undefined);
  const page = found.slice(0, query.limit).sort(searchOrder);
  return {
    messages: await attachReactionsEach(kv, page),
    hasMore: found.length > query.limit || scanned.entries >= SCAN_MAX,
  };
}

async function existing(kv: Deno.Kv, rooms: string[]): Promise<string[]> {
  const live: string[] = [];
  for (let i = 0; i < rooms.length; i += 10) {
    const part = rooms.slice(i, i + 10);
    const seqs = await kv.getMany(part.map((room) => ["seq", room]));
    part.forEach((room, j) => {
      if (seqs[j]!.versionstamp !== null) live.push(room);
    });
  }
  return live;
}

/** The keys of one posting in one room within the query's dates and cursor, newest first. */
async function* walk(
  kv: Deno.Kv,
  room: string,
  posting: string,
  query: SearchQuery,
): AsyncGenerator<Hit> {
  const prefix = ["sx", room, posting];
  let end: Deno.KvKey = [...prefix, query.to ?? SEQ_END];
  const c = query.before;
  if (c) {
    // Strictly after the cursor in result order: older, or as old in a later room, or as
    // old in the same room with a lower seq.
    const bound: Deno.KvKey = room < c.room
      ? [...prefix, c.ts]
      : room === c.room
      ? [...prefix, c.ts, c.seq]
      : [...prefix, c.ts, SEQ_END];
    if (query.to === undefined || c.ts < query.to) end = bound;
  }
  const start = [...prefix, query.from ?? 0];
  // The first batch is small (with many rooms, most contribute a hit or two), then grows.
  let batch = 32;
  let cursor: string | undefined;
  for (;;) {
    const it = kv.list<number>({ start, end }, { reverse: true, batchSize: batch, cursor });
    let n = 0;
    for await (const e of it) {
      n++;
      yield { ts: e.key[3] as number, seq: e.key[4] as number };
      if (n === batch) {
        cursor = it.cursor;
        break;
      }
    }
    if (n < batch) return;
    batch = Math.min(batch * 4, 1000);
  }
}

/**
 * The hits common to every stream (each newest first): a merge join that moves the
 * streams ahead of the oldest head down to it.
 */
async function* intersect(streams: AsyncGenerator<Hit>[]): AsyncGenerator<Hit> {
  if (streams.length === 1) {
    yield* streams[0]!;
    return;
  }
  try {
    const heads: Hit[] = [];
    for (const s of streams) {
      const next = await s.next();
      if (next.done) return;
      heads.push(next.value);
    }
    for (;;) {
      let low = heads[0]!;
      for (const h of heads) if (older(h, low)) low = h;
      let all = true;
      for (let i = 0; i < streams.length; i++) {
        while (older(low, heads[i]!)) {
          const next = await streams[i]!.next();
          if (next.done) return;
          heads[i] = next.value;
        }
        if (heads[i]!.seq !== low.seq) all = false;
      }
      if (!all) continue;
      yield low;
      for (let i = 0; i < streams.length; i++) {
        const next = await streams[i]!.next();
        if (next.done) return;
        heads[i] = next.value;
      }
    }
  } finally {
    for (const s of streams) await s.return(undefined);
  }
}

/** Whether `a` comes after `b` walking newest first (older ts, or same ts and lower seq). */
function older(a: Hit, b: Hit): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);
}

/** No posting to walk (a date range alone): the room's text messages, newest first. */
async function* scan(
  chunks: ChunkReader,
  room: string,
  query: SearchQuery,
  scanned: { entries: number },
): AsyncGenerator<Hit> {
  const cursor: SearchCursor | undefined = query.before;
  const end = cursor?.room === room ? cursor.seq : SEQ_END;
  for await (const m of chunks.backwards(room, end)) {
    if (++scanned.entries > SCAN_MAX) return;
    if (query.from !== undefined && m.ts < query.from) return;
    if (!matchesSearch(m, query) || !afterCursor(m, cursor)) continue;
    yield { ts: m.ts, seq: m.seq, message: m };
  }
}

/** Reads the stream's chunks for one query, each at most once. */
class ChunkReader {
  readonly #kv: Deno.Kv;
  /** room -> chunks read, by their first seq */
  readonly #chunks = new Map<string, Map<number, Message[]>>();

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The entry at `seq`, as it is now. */
  async message(room: string, seq: number): Promise<Message | undefined> {
    let cached = this.#chunks.get(room);
    if (!cached) this.#chunks.set(room, cached = new Map());
    for (const chunk of cached.values()) {
      if (chunk[0]!.seq <= seq && chunk.at(-1)!.seq >= seq) {
        return chunk.find((m) => m.seq === seq);
      }
    }
    const selector = { start: ["c", room, 0], end: ["c", room, seq + 1] };
    for await (const e of this.#kv.list<Message[]>(selector, { reverse: true, limit: 1 })) {
      if (e.value.length === 0) return undefined;
      cached.set(e.value[0]!.seq, e.value);
      return e.value.find((m) => m.seq === seq);
    }
    return undefined;
  }

  /** The room's entries below `end`, newest first. */
  async *backwards(room: string, end: number): AsyncGenerator<Message> {
    const selector = { start: ["c", room, 0], end: ["c", room, end] };
    let below = end;
    for await (const { value } of this.#kv.list<Message[]>(selector, { reverse: true })) {
      for (let i = value.length - 1; i >= 0; i--) {
        const m = value[i]!;
        if (m.seq >= below) continue;
        below = m.seq;
        yield m;
      }
    }
  }
}
