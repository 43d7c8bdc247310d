import assert from "node:assert/strict";
import { KvStore } from "../server/store/kv.ts";
import { MemoryStore } from "../server/store/memory.ts";
import { storeContract, text } from "./store_contract.ts";

storeContract("memory", (options) => Promise.resolve({ store: new MemoryStore(options) }));

storeContract("kv", async (options) => {
  const dir = await Deno.makeTempDir({ prefix: "parley-kv-" });
  const path = `${dir}/parley.kv`;
  return {
    store: await KvStore.open(path, options),
    openShared: () => KvStore.open(path, options),
    reopen: () => KvStore.open(path, options),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
});

Deno.test("kv store: a store from before chunks (a row per entry) is migrated once, even by two workers at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-kv-layout1-" });
  const path = `${dir}/parley.kv`;
  try {
    const legacy = await Deno.openKv(path);
    const ada = { id: "u_ada", name: "Ada" };
    const counts = { r: 180, s: 70 };
    for (const [room, count] of Object.entries(counts)) {
      await legacy.set(["room", room], {
        name: room,
        kind: "public",
        title: "",
        topic: "",
        createdBy: ada.id,
        createdAt: 1,
        receipts: false,
      });
      await legacy.set(["seq", room], count);
      for (let seq = 1; seq <= count; seq++) {
        await legacy.set(["e", room, seq], {
          id: `${room}:${seq}:legacy00`,
          room,
          seq,
          author: ada,
          ts: seq,
          kind: "text",
          text: `${room} ${seq}`,
          nonce: `${room}-nonce-${seq}`,
        });
      }
      await legacy.set(["nb", room, 1], [[`${ada.id}\n${room}-nonce-1`, 1]]);
    }
    legacy.close();

    const [one, two] = await Promise.all([KvStore.open(path), KvStore.open(path)]);
    try {
      for (const [room, count] of Object.entries(counts)) {
        const all = await one.history(room, { after: 0, limit: 100 });
        assert.deepEqual(
          all.messages.map((m) => m.seq),
          Array.from({ length: Math.min(count, 100) }, (_, i) => i + 1),
        );
        const latest = await two.history(room, { limit: 3 });
        assert.deepEqual(
          latest.messages.map((m) => m.text),
          [-2, -1, 0].map((d) => `${room} ${count + d}`),
        );
        const resend = await one.append(text(room, ada, "again", `${room}-nonce-2`));
        assert.equal(resend.duplicate, true);
        assert.equal(resend.message.seq, 2);
        assert.equal(
          (await two.append(text(room, ada, "new", `${room}-new`))).message.seq,
          count + 1,
        );
      }
    } finally {
      await one.close();
      await two.close();
    }
    const kv = await Deno.openKv(path);
    try {
      for (const prefix of [["e"], ["nb"]]) {
        assert.equal(
          (await Array.fromAsync(kv.list({ prefix }))).length,
          0,
          `no ${prefix} rows left`,
        );
      }
      assert.equal((await kv.get(["meta", "layout"])).value, 2);
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
