/**
 * Scenario s: search over 1,000,000 messages in 100 rooms, on the KV store and on the
 * PostgreSQL store, each through its own `search()`. p50 and p99 latency per query kind.
 *
 * Loading goes around the append path (which would take minutes) but writes exactly what
 * the stores write: for KV, the chunks and the posting blocks (kv_postings.ts) an
 * indexing pass of one block's messages writes, with the room's marker at its last seq; for PostgreSQL, rows made by the store's own toRow (terms from
 * searchTerms) inserted into its schema, indexes in place, then VACUUM ANALYZE.
 *
 * Messages: 8 words each: 3 of 50 common words, 4 of 5,000 others, and one rare token
 * shared by about 5 messages; 1,000 authors; rooms picked at random; ts 10 ms apart.
 */
import { LIMITS } from "../protocol/limits.ts";
import type { Message } from "../protocol/messages.ts";
import { makeEntry } from "../server/store/entries.ts";
import { KvStore } from "../server/store/kv.ts";
import { blockOf, INDEXED, PostingBatch, postingsOf } from "../server/store/kv_postings.ts";
import { keyBytes, mentionRows } from "../server/store/kv_search.ts";
import { PostgresStore } from "../server/store/postgres.ts";
import { ENTRY_RECORD, toRow } from "../server/store/postgres_batch.ts";
import { connect } from "../server/store/postgres_schema.ts";
import type { SearchQuery, Store } from "../server/store/types.ts";
import { postgresMissing, startPostgres } from "../tests/support/postgres.ts";
import type { Progress } from "./progress.ts";

export const SEARCH_HEADING = "## Search, 1M messages";

export interface SearchSizes {
  messages: number;
  rooms: number;
  queries: number;
}

export const SEARCH_SIZES: SearchSizes = { messages: 1_000_000, rooms: 100, queries: 100 };
export const SEARCH_SMOKE: SearchSizes = { messages: 5_000, rooms: 10, queries: 5 };

const COMMON = 50;
const OTHER = 5_000;
const AUTHORS = 1_000;
const T0 = Date.UTC(2026, 0, 1);

interface Figures {
  load: { ms: number; rows?: number };
  kinds: Record<string, { p50: number; p99: number; results: number }>;
}

/** Run scenario s and return its markdown section. */
export async function searchScenario(
  sizes: SearchSizes,
  progress: Progress,
  command: string,
): Promise<string> {
  const started = new Date().toISOString();
  const results: Record<string, Figures | string> = {};
  const dir = await Deno.makeTempDir({ prefix: "parley-bench-search-" });
  try {
    progress.start("s. search / KV");
    results.KV = await kvRun(`${dir}/search.kv`, sizes, progress).catch(failed);
    progress.done(summary(results.KV));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  progress.start("s. search / PostgreSQL");
  const missing = postgresMissing();
  results.PostgreSQL = missing ?? await pgRun(sizes, progress).catch(failed);
  progress.done(summary(results.PostgreSQL));
  return section(results, sizes, started, command);
}

const failed = (error: unknown) =>
  `failed: ${error instanceof Error ? error.message : String(error)}`;

function summary(r: Figures | string): string {
  if (typeof r === "string") return r;
  return Object.entries(r.kinds).map(([k, f]) => `${k} p50 ${f.p50.toFixed(1)} ms`).join(", ");
}

// ---- the data -------------------------------------------------------------------------

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const roomName = (i: number) => `room${String(i).padStart(3, "0")}`;
const common = (i: number) => `common${i}`;

/** The data set: which room each message goes to (a message is known by its index). */
function layout(sizes: SearchSizes): { rooms: Uint8Array; byRoom: number[][] } {
  const random = rng(42);
  const rooms = new Uint8Array(sizes.messages);
  const byRoom: number[][] = Array.from({ length: sizes.rooms }, () => []);
  for (let i = 0; i < sizes.messages; i++) {
    rooms[i] = Math.floor(random() * sizes.rooms);
    byRoom[rooms[i]!]!.push(i);
  }
  return { rooms, byRoom };
}

/** Message `i` (the `seq`-th of its room), the same whichever order it is made in. */
function message(sizes: SearchSizes, i: number, room: number, seq: number, epoch: string) {
  const random = rng(i * 7919 + 1);
  const rare = Math.max(1, Math.floor(sizes.messages / 5));
  const words = [
    common(Math.floor(random() * COMMON)),
    `word${Math.floor(random() * OTHER)}`,
    common(Math.floor(random() * COMMON)),
    `word${Math.floor(random() * OTHER)}`,
    `rare${Math.floor(random() * rare)}`,
    `word${Math.floor(random() * OTHER)}`,
    common(Math.floor(random() * COMMON)),
    `word${Math.floor(random() * OTHER)}.`,
  ];
  const a = Math.floor(random() * AUTHORS);
  return makeEntry(
    {
      kind: "text",
      room: roomName(room),
      author: { id: `u_${a}`, name: `User ${a}` },
      text: words.join(" "),
      nonce: `n${i}`,
    },
    seq,
    T0 + i * 10,
    epoch,
  );
}

/** One room's messages, in seq order. */
function* roomMessages(sizes: SearchSizes, indexes: number[], room: number, epoch: string) {
  for (let k = 0; k < indexes.length; k++) yield message(sizes, indexes[k]!, room, k + 1, epoch);
}

/** Every message in commit order. */
function* messages(sizes: SearchSizes, epoch: string): Generator<Message> {
  const { rooms } = layout(sizes);
  const seqs = new Array<number>(sizes.rooms).fill(0);
  for (let i = 0; i < sizes.messages; i++) {
    const r = rooms[i]!;
    yield message(sizes, i, r, ++seqs[r]!, epoch);
  }
}

async function createRooms(store: Store, sizes: SearchSizes): Promise<void> {
  for (let r = 0; r < sizes.rooms; r++) {
    await store.createRoom({ name: roomName(r), topic: "", createdBy: "u_0" });
  }
}

// ---- KV -------------------------------------------------------------------------------

async function kvRun(path: string, sizes: SearchSizes, progress: Progress): Promise<Figures> {
  const setup = await KvStore.open(path);
  await createRooms(setup, sizes);
  const epoch = setup.epoch;
  await setup.close();
  const t0 = performance.now();
  const kv = await Deno.openKv(path);
  let rows = 0;
  try {
    let op = kv.atomic();
    let mutations = 0;
    let keys = 0;
    let size = 0;
    const commit = async () => {
      if (mutations === 0) return;
      const result = await op.commit();
      if (!result.ok) throw new Error("KV load: a commit failed");
      op = kv.atomic();
      mutations = 0;
      keys = 0;
      size = 0;
    };
    /** KV's caps per commit: 1000 mutations, 80 KiB of keys, 800 KiB of keys and values. */
    const set = async (key: Deno.KvKey, value: unknown, valueBytes = 16) => {
      const bytes = keyBytes(key);
      if (mutations + 1 > 990 || keys + bytes > 70_000 || size + bytes + valueBytes > 600_000) {
        await commit();
      }
      op.set(key, value);
      mutations++;
      keys += bytes;
      size += bytes + valueBytes;
      rows++;
    };
    const chunkBytes = (chunk: Message[]) => 2 * JSON.stringify(chunk).length;
    // Room by room: its chunks (100 entries each, as a busy room's commits write them),
    // then its index rows in key order. Written in the order of a live server's commits,
    // the same 9 million rows take SQLite over ten times as long: each commit then
    // touches a page per row (see "Search, 1M messages" in bench/RESULTS.md).
    const { byRoom } = layout(sizes);
    let n = 0;
    for (let r = 0; r < sizes.rooms; r++) {
      const room = roomName(r);
      const index: [Deno.KvKey, unknown][] = [];
      let chunk: Message[] = [];
      let postings = new PostingBatch();
      let block = -1;
      let last = 0;
      for (const m of roomMessages(sizes, byRoom[r]!, r, epoch)) {
        if (blockOf(m.seq) !== block && block >= 0) {
          index.push(...postings.newRows(room, last));
          postings = new PostingBatch();
        }
        block = blockOf(m.seq);
        last = m.seq;
        for (const p of postingsOf(m)) postings.add(p, m.seq, m.ts);
        index.push(...mentionRows(m));
        chunk.push(m);
        if (chunk.length === 100) {
          await set(["c", room, chunk[0]!.seq], chunk, chunkBytes(chunk));
          chunk = [];
        }
        if (++n % 50_000 === 0) progress.update(`loading ${n.toLocaleString("en")} messages`);
      }
      index.push(...postings.newRows(room, last));
      if (chunk.length) await set(["c", room, chunk[0]!.seq], chunk, chunkBytes(chunk));
      index.sort(([a], [b]) => compareKeys(a, b));
      for (const [key, value] of index) {
        await set(key, value, Array.isArray(value) ? 10 * value.length : 16);
      }
      await set([INDEXED, room], last);
      await set(["seq", room], byRoom[r]!.length);
    }
    await commit();
  } finally {
    kv.close();
  }
  const load = { ms: performance.now() - t0, rows };
  const store = await KvStore.open(path);
  try {
    return { load, kinds: await queries(store, sizes, progress) };
  } finally {
    await store.close();
  }
}

/** KV's order for the keys the index uses (strings, then numbers). */
function compareKeys(a: Deno.KvKey, b: Deno.KvKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x !== typeof y) return typeof x === "string" ? -1 : 1;
    return (x as string | number) < (y as string | number) ? -1 : 1;
  }
  return a.length - b.length;
}

// ---- PostgreSQL -----------------------------------------------------------------------

async function pgRun(sizes: SearchSizes, progress: Progress): Promise<Figures> {
  const server = await startPostgres();
  if (!server) throw new Error("PostgreSQL did not start");
  try {
    const db = await server.createDatabase();
    const setup = await PostgresStore.open(db.url);
    await createRooms(setup, sizes);
    const epoch = setup.epoch;
    await setup.close();
    const t0 = performance.now();
    const sql = connect(db.url, { statementTimeoutMs: 600_000 });
    try {
      let batch: unknown[] = [];
      const last = new Map<string, number>();
      const insert = async () => {
        if (batch.length === 0) return;
        await sql.unsafe(
          `INSERT INTO entries (room, seq, kind, author_id, author_name, text, ts, nonce, target,
             edited_at, deleted, extra, terms, reply_to)
           SELECT room, seq, kind, author_id, author_name, text, ts, nonce, target, edited_at,
             deleted, extra, terms, reply_to
           FROM jsonb_to_recordset($1::text::jsonb) AS x(${ENTRY_RECORD})`,
          [JSON.stringify(batch)],
        );
        batch = [];
      };
      let n = 0;
      for (const m of messages(sizes, epoch)) {
        batch.push(toRow(m));
        last.set(m.room, m.seq);
        if (batch.length === 5_000) await insert();
        if (++n % 50_000 === 0) progress.update(`loading ${n.toLocaleString("en")} messages`);
      }
      await insert();
      for (const [room, seq] of last) {
        await sql`UPDATE rooms SET last_seq = ${seq}::int8 WHERE name = ${room}`;
      }
      // As autovacuum leaves a table at rest: GIN's pending list merged, statistics made.
      progress.update("VACUUM ANALYZE");
      await sql`VACUUM ANALYZE entries`;
    } finally {
      await sql.end();
    }
    const load = { ms: performance.now() - t0 };
    const store = await PostgresStore.open(db.url);
    try {
      return { load, kinds: await queries(store, sizes, progress) };
    } finally {
      await store.close();
    }
  } finally {
    await server.stop();
  }
}

// ---- the queries ----------------------------------------------------------------------

const KINDS = ["rare word", "two common words", "author"] as const;

function makeQuery(kind: (typeof KINDS)[number], rooms: string[], random: () => number) {
  const pick = (n: number) => Math.floor(random() * n);
  const q: SearchQuery = { rooms, terms: [], limit: LIMITS.searchPageMax };
  if (kind === "rare word") q.terms = [`rare${pick(1000)}`];
  if (kind === "two common words") {
    const a = pick(COMMON);
    q.terms = [common(a), common((a + 1 + pick(COMMON - 1)) % COMMON)];
  }
  if (kind === "author") q.author = `u_${pick(AUTHORS)}`;
  return q;
}

async function queries(
  store: Store,
  sizes: SearchSizes,
  progress: Progress,
): Promise<Figures["kinds"]> {
  const all = Array.from({ length: sizes.rooms }, (_, r) => roomName(r));
  const kinds: Figures["kinds"] = {};
  for (const spread of ["all rooms", "one room"] as const) {
    for (const kind of KINDS) {
      const random = rng(7);
      const label = `${kind}, ${spread === "all rooms" ? `${sizes.rooms} rooms` : "1 room"}`;
      progress.update(label);
      const times: number[] = [];
      let found = 0;
      for (let i = 0; i < sizes.queries + 5; i++) {
        const rooms = spread === "all rooms" ? all : [all[Math.floor(random() * all.length)]!];
        const q = makeQuery(kind, rooms, random);
        const t = performance.now();
        const page = await store.search(q);
        if (i < 5) continue; // warm-up
        times.push(performance.now() - t);
        found += page.messages.length;
      }
      times.sort((a, b) => a - b);
      const at = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
      kinds[label] = { p50: at(0.5), p99: at(0.99), results: found / sizes.queries };
    }
  }
  return kinds;
}

// ---- the report -----------------------------------------------------------------------

function section(
  results: Record<string, Figures | string>,
  sizes: SearchSizes,
  started: string,
  command: string,
): string {
  const stores = Object.keys(results);
  const figures = stores.map((s) => results[s]).filter((r): r is Figures => typeof r !== "string");
  const labels = Object.keys(figures[0]?.kinds ?? {});
  const lines = [
    SEARCH_HEADING,
    "",
    `Written by \`${command}\` (scenario s, bench/search.ts), ${started}: ` +
    `${sizes.messages.toLocaleString("en")} messages in ${sizes.rooms} rooms, ` +
    `${sizes.queries} queries of each kind, a page of ${LIMITS.searchPageMax}; ` +
    "latency of `store.search()` in process, ms.",
    "",
    `| Query | ${stores.map((s) => `${s} p50 | ${s} p99`).join(" | ")} | Results per page |`,
    `| --- | ${stores.map(() => "---: | ---:").join(" | ")} | ---: |`,
  ];
  for (const label of labels) {
    const cells = stores.map((s) => {
      const r = results[s]!;
      if (typeof r === "string") return "— | —";
      const f = r.kinds[label]!;
      return `${f.p50.toFixed(1)} | ${f.p99.toFixed(1)}`;
    });
    const found = figures[0]!.kinds[label]!.results;
    lines.push(`| ${label} | ${cells.join(" | ")} | ${found.toFixed(1)} |`);
  }
  lines.push("");
  for (const s of stores) {
    const r = results[s]!;
    lines.push(
      typeof r === "string"
        ? `- ${s}: ${r}`
        : `- ${s}: loaded in ${(r.load.ms / 1000).toFixed(0)} s` +
          (r.load.rows ? ` (${r.load.rows.toLocaleString("en")} rows: chunks and index)` : ""),
    );
  }
  return lines.join("\n") + "\n";
}
