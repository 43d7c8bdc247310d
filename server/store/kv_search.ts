/**
 * KvStore's search and mention counts. Search walks the posting blocks (kv_postings.ts),
 * which an indexer writes shortly after each commit; KvStore.search catches its rooms up
 * first. Mentions are rows written in the entry's own commit, so their counts are exact at
 * once:
 *
 * - ["mx", room, name, seq] -> author id for each name a message mentions, for
 *   unreadMentions. A delete removes them.
 */
import type { Message } from "../../protocol/messages.ts";
import { attachReactionsEach } from "./kv_reactions.ts";
import { AUTHOR, REPLY, walkPosting } from "./kv_postings.ts";
import { afterCursor, matchesSearch, searchOrder } from "./search_match.ts";
import type { SearchCursor, SearchPage, SearchQuery } from "./types.ts";

const SEQ_END = Number.MAX_SAFE_INTEGER;
/** A search with no posting to walk (dates only) reads at most this many entries. */
export const SCAN_MAX = 20_000;

/** One mention row: its key, its value. */
export type IndexRow = [Deno.KvKey, string];

/** The mention rows of `m` as it is now: none for a tombstone. */
export function mentionRows(m: Message | undefined): IndexRow[] {
  if (!m || m.kind !== "text" || m.deleted) return [];
  return [...new Set(m.mentions ?? [])].map((name) => [["mx", m.room, name, m.seq], m.author.id]);
}

/** Rows to write and keys to delete to take the mention rows from `before` to `after`. */
export function mentionChanges(
  before: Message | undefined,
  after: Message | undefined,
): { set: IndexRow[]; remove: Deno.KvKey[] } {
  const names = (rows: IndexRow[]) => new Set(rows.map(([key]) => key[2]));
  const was = mentionRows(before);
  const now = mentionRows(after);
  const [wasNames, nowNames] = [names(was), names(now)];
  return {
    set: now.filter(([key]) => !wasNames.has(key[2])),
    remove: was.filter(([key]) => !nowNames.has(key[2])).map(([key]) => key),
  };
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

/**
 * One posting's hits in one room within the query's dates and after its cursor, newest
 * first. Hits come in seq order, which is ts order within a room (ts is stamped at
 * commit, and commits to a room are serial).
 */
async function* walk(
  kv: Deno.Kv,
  room: string,
  posting: string,
  query: SearchQuery,
): AsyncGenerator<Hit> {
  const c = query.before;
  const below = c?.room === room ? c.seq : undefined;
  for await (const hit of walkPosting(kv, room, posting, below)) {
    if (query.from !== undefined && hit.ts < query.from) return;
    if (query.to !== undefined && hit.ts >= query.to) continue;
    if (!afterCursor({ ...hit, room }, c)) continue;
    yield hit;
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

/** Whether `a` comes after `b` walking one room newest first. */
function older(a: Hit, b: Hit): boolean {
  return a.seq < b.seq;
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
