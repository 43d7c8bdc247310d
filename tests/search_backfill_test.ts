/**
 * The search backfill: entries stored before the index's format (KV: no ["sp"] posting
 * blocks, perhaps the rows of the earlier format, ["sx"]; PostgreSQL: NULL `terms`) are found once a store has been opened on them and its
 * background job has run (server/store/kv_backfill.ts, server/store/postgres_backfill.ts).
 */
import assert from "node:assert/strict";
import type { Member } from "../protocol/messages.ts";
import { KvStore } from "../server/store/kv.ts";
import { INDEX_DONE_KEY, INDEX_VERSION } from "../server/store/kv_backfill.ts";
import { indexPass } from "../server/store/kv_index_pass.ts";
import { PostgresStore } from "../server/store/postgres.ts";
import { backfillTerms } from "../server/store/postgres_backfill.ts";
import { connect } from "../server/store/postgres_schema.ts";
import type { EntryDraft, SearchQuery, Store } from "../server/store/types.ts";
import { postgresMissing, sharedPostgres } from "./support/postgres.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };
const quiet = { info: () => {}, warn: () => {} };

let nonces = 0;
function say(room: string, author: Member, text: string, mentions?: string[]): EntryDraft {
  return {
    kind: "text",
    room,
    author,
    text,
    nonce: `b-${++nonces}`,
    ...(mentions && { mentions }),
  };
}

const q = (rooms: string[], terms: string[], rest: Partial<SearchQuery> = {}): SearchQuery => ({
  rooms,
  terms,
  limit: 50,
  ...rest,
});

/** Rooms "a" (many entries, several commits' worth of index) and "b", with an edit and a delete. */
async function fill(store: Store): Promise<void> {
  await store.createRoom({ name: "a", topic: "", createdBy: ada.id });
  await store.createRoom({ name: "b", topic: "", createdBy: ada.id });
  for (let i = 0; i < 300; i++) {
    await store.append(
      say("a", i % 2 ? ada : bob, `filler number ${i} with words w${i % 7} x${i}`),
    );
  }
  await store.append(say("b", ada, "Hello old World", ["bob"])); // b:1
  await store.append(say("b", bob, "doomed hello")); // b:2
  await store.append(say("b", bob, "first draft")); // b:3
  await store.append({ kind: "delete", room: "b", author: bob, target: 2 });
  await store.append({ kind: "edit", room: "b", author: bob, target: 3, text: "final hello" });
}

/** Take a KV store back to before the posting blocks: the earlier format's rows, no postings. */
async function toFormatOne(raw: Deno.Kv): Promise<void> {
  for (const prefix of [["sp"], ["spe"], ["spi"]]) {
    for await (const e of raw.list({ prefix })) await raw.delete(e.key);
  }
  await raw.set(["sx", "a", "filler", 1, 1], 1);
  await raw.set(["sxi", "a"], 300);
  await raw.set(["sxb", "b"], 2);
  await raw.set(INDEX_DONE_KEY, 1);
}

/** Run `fn` on a KV file in a temporary directory, removed afterwards. */
async function withKvPath(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley-kv-backfill-" });
  try {
    await fn(`${dir}/parley.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** What a store that has indexed everything answers. */
async function assertFound(store: Store): Promise<void> {
  const hello = await store.search(q(["a", "b"], ["hello"]));
  assert.deepEqual(hello.messages.map((m) => `${m.room}:${m.seq}`), ["b:3", "b:1"]);
  assert.deepEqual((await store.search(q(["b"], ["draft"]))).messages, []);
  assert.deepEqual((await store.search(q(["b"], ["doomed"]))).messages, []);
  const words = await store.search(q(["a"], ["w3", "filler"], { limit: 100 }));
  assert.equal(words.messages.length, 43); // i % 7 === 3 for i < 300
  assert.deepEqual(
    (await store.search(q(["a"], ["x299"]))).messages.map((m) => m.seq),
    [300],
  );
  const byAda = await store.search(q(["a"], [], { author: ada.id, limit: 200 }));
  assert.equal(byAda.messages.length, 150);
  assert.equal(await store.unreadMentions("b", bob.id, ["bob"], 10), 1);
}

Deno.test("kv store: entries stored without index rows are found after the backfill", async () => {
  await withKvPath(async (path) => {
    const before = await KvStore.open(path, { log: quiet });
    await fill(before);
    await before.close();
    const raw = await Deno.openKv(path);
    await toFormatOne(raw);
    raw.close();

    const old = await KvStore.open(path, { log: quiet });
    try {
      // Live appends while the job runs are indexed too.
      const live = old.append(say("b", ada, "live hello"));
      assert.ok(await old.backfill >= 305, "every stored entry is gone through");
      await live;
      const all = await old.search(q(["a", "b"], ["hello"]));
      assert.deepEqual(all.messages.map((m) => m.text), [
        "live hello",
        "final hello",
        "Hello old World",
      ]);
      await old.append({ kind: "delete", room: "b", author: ada, target: 6 });
      await assertFound(old);
    } finally {
      await old.close();
    }

    // Done once: the next open has nothing to do, and no row of the earlier format is left.
    const again = await KvStore.open(path, { log: quiet });
    try {
      assert.equal(await again.backfill, 0);
      await assertFound(again);
    } finally {
      await again.close();
    }
    const check = await Deno.openKv(path);
    try {
      for (const prefix of [["sx"], ["sxb"], ["sxi"]]) {
        assert.equal((await Array.fromAsync(check.list({ prefix }))).length, 0);
      }
      assert.equal((await check.get(INDEX_DONE_KEY)).value, INDEX_VERSION);
    } finally {
      check.close();
    }
  });
});

Deno.test("kv store: an interrupted backfill resumes from its marker", async () => {
  await withKvPath(async (path) => {
    const before = await KvStore.open(path, { log: quiet });
    await fill(before);
    await before.close();
    const raw = await Deno.openKv(path);
    await toFormatOne(raw);
    // One pass over room "a" (as far as one commit holds), then the job stops.
    const first = (await indexPass(raw, ["a"]))?.entries;
    assert.ok(typeof first === "number" && first > 0 && first < 300, `one pass: ${first}`);
    raw.close();
    const store = await KvStore.open(path, { log: quiet });
    try {
      assert.equal(await store.backfill, 300 - first + 5); // the rest of a, all of b
      await assertFound(store);
    } finally {
      await store.close();
    }
  });
});

Deno.test("kv store: a new store is marked indexed at once and runs no backfill", async () => {
  await withKvPath(async (path) => {
    const store = await KvStore.open(path, { log: quiet });
    await store.close();
    const raw = await Deno.openKv(path);
    assert.equal((await raw.get(INDEX_DONE_KEY)).value, INDEX_VERSION);
    raw.close();
  });
});

const pgMissing = postgresMissing();

Deno.test({
  name: "postgres store: entries with NULL terms are found after the backfill, run once",
  ignore: pgMissing !== null,
  fn: async () => {
    const server = await sharedPostgres();
    if (!server) throw new Error("unreachable");
    const db = await server.createDatabase();
    const sql = connect(db.url);
    try {
      const before = await PostgresStore.open(db.url, { log: quiet });
      await fill(before);
      await before.close();
      // The old format: rows from before migration 3.
      const nulled = await sql`UPDATE entries SET terms = NULL WHERE terms IS NOT NULL`;
      assert.equal(nulled.count, 302);

      // Two processes at once: one does the work, the other finds it done.
      const [one, two] = await Promise.all([
        PostgresStore.open(db.url, { log: quiet }),
        PostgresStore.open(db.url, { log: quiet }),
      ]);
      try {
        const done = await Promise.all([one.backfill, two.backfill]);
        assert.equal(done[0] + done[1], 302);
        await assertFound(one);
        await assertFound(two);
      } finally {
        await one.close();
        await two.close();
      }
      const [left] = await sql`
        SELECT count(*)::int4 AS n FROM entries
        WHERE terms IS NULL AND kind = 'text' AND NOT deleted`;
      assert.equal(left!.n, 0);

      // Small batches, with a live edit of a row not yet reached: the edit's terms stand.
      await sql`UPDATE entries SET terms = NULL WHERE terms IS NOT NULL`;
      const store = await PostgresStore.open(db.url, { log: quiet });
      try {
        await store.backfill;
        await sql`UPDATE entries SET terms = NULL WHERE terms IS NOT NULL`;
        const running = backfillTerms(sql, { batch: 7, pauseMs: 1 });
        await store.append({ kind: "edit", room: "b", author: ada, target: 1, text: "edited" });
        assert.ok((await running) <= 302);
        assert.deepEqual((await store.search(q(["b"], ["edited"]))).messages.map((m) => m.seq), [
          1,
        ]);
        assert.deepEqual((await store.search(q(["b"], ["old"]))).messages, []);
        assert.equal(await backfillTerms(sql), 0);
      } finally {
        await store.close();
      }
    } finally {
      await sql.end();
      await db.drop();
    }
  },
});
