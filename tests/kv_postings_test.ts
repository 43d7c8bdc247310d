/**
 * The KV store's posting blocks (server/store/kv_postings.ts), read straight from the
 * database: one row per posting and pass instead of per message, nothing of a deleted or
 * pruned message left behind, and no hit twice when two handles index at once.
 */
import assert from "node:assert/strict";
import { KvStore } from "../server/store/kv.ts";
import type { EntryDraft } from "../server/store/types.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };
const quiet = { info: () => {}, warn: () => {} };
let nonces = 0;
const say = (text: string, author = ada): EntryDraft => ({
  kind: "text",
  room: "r",
  author,
  text,
  nonce: `p-${++nonces}`,
});

/** Every posting row of room "r": posting -> the seqs its rows hold, duplicates kept. */
async function postings(raw: Deno.Kv): Promise<{ rows: number; hits: Map<string, number[]> }> {
  const hits = new Map<string, number[]>();
  let rows = 0;
  for await (const e of raw.list<number[]>({ prefix: ["sp", "r"] })) {
    rows++;
    const posting = e.key[2] as string;
    const seqs = hits.get(posting) ?? [];
    for (let i = 0; i < e.value.length; i += 2) seqs.push(e.value[i]!);
    hits.set(posting, seqs.sort((a, b) => a - b));
  }
  return { rows, hits };
}

async function withStore(
  fn: (store: KvStore, raw: Deno.Kv, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley-postings-" });
  const path = `${dir}/parley.kv`;
  const store = await KvStore.open(path, { log: quiet });
  const raw = await Deno.openKv(path);
  try {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    await fn(store, raw, path);
  } finally {
    raw.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const search = (store: KvStore, terms: string[]) =>
  store.search({ rooms: ["r"], terms, limit: 500 }).then((p) => p.messages.map((m) => m.seq));

Deno.test("kv postings: 300 messages sharing their words cost a row per posting and block", async () => {
  await withStore(async (store, raw) => {
    await Promise.all(
      Array.from(
        { length: 300 },
        (_, i) => store.append(say("the same five words here", i % 2 ? ada : bob)),
      ),
    );
    assert.equal((await search(store, ["same", "words"])).length, 300);
    const { rows, hits } = await postings(raw);
    // Seqs 1..300 span blocks 0 and 1: 5 words and 2 authors, in each.
    assert.equal(rows, 14);
    assert.deepEqual(hits.get("five"), Array.from({ length: 300 }, (_, i) => i + 1));
  });
});

Deno.test("kv postings: an edit or a delete leaves no hit of the words it took away", async () => {
  await withStore(async (store, raw) => {
    await store.append(say("keep secret alpha")); // 1
    await store.append(say("keep secret beta")); // 2
    await store.append(say("keep gamma")); // 3
    assert.deepEqual(await search(store, ["secret"]), [2, 1]); // indexed now
    await store.append({ kind: "delete", room: "r", author: ada, target: 2 });
    await store.append({ kind: "edit", room: "r", author: ada, target: 1, text: "keep delta" });
    await store.append(say("keep secret again")); // 6
    assert.deepEqual(await search(store, ["secret"]), [6]);
    assert.deepEqual(await search(store, ["delta"]), [1]);
    const { hits } = await postings(raw);
    assert.deepEqual(hits.get("secret"), [6]);
    assert.equal(hits.get("beta"), undefined, "a deleted message's words are gone");
    assert.equal(hits.get("alpha"), undefined, "an edit's removed words are gone");
    assert.deepEqual(hits.get("keep"), [1, 3, 6]);
    assert.deepEqual(await Array.fromAsync(raw.list({ prefix: ["spe"] })), [], "edits applied");
  });
});

Deno.test("kv postings: retention takes the hits of what it prunes", async () => {
  await withStore(async (store, raw) => {
    for (let i = 1; i <= 600; i++) await store.append(say(`word w${i} common`));
    assert.equal((await search(store, ["common"])).length, 500);
    await store.prune("r", { maxCount: 100 }, Date.now());
    assert.deepEqual(await search(store, ["w501"]), [501]);
    assert.deepEqual(await search(store, ["w500"]), []);
    const { hits } = await postings(raw);
    for (const [posting, seqs] of hits) {
      assert.ok(seqs.every((s) => s > 500), `${posting} holds a pruned seq: ${seqs[0]}`);
    }
    assert.equal(hits.get("common")?.length, 100);
  });
});

Deno.test("kv postings: two handles indexing one room at once write every hit once", async () => {
  await withStore(async (store, raw, path) => {
    const other = await KvStore.open(path, { log: quiet });
    try {
      const sends = [];
      for (let i = 0; i < 200; i++) {
        sends.push((i % 2 ? store : other).append(say(`both w${i % 10}`)));
      }
      await Promise.all(sends);
      const [a, b] = await Promise.all([search(store, ["both"]), search(other, ["both"])]);
      assert.equal(a.length, 200);
      assert.deepEqual(a, b);
      const { hits } = await postings(raw);
      assert.deepEqual(hits.get("both"), Array.from({ length: 200 }, (_, i) => i + 1));
    } finally {
      await other.close();
    }
  });
});
