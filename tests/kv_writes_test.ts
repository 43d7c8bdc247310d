/** KvWriteCombiner: unchecked KV writes committed in groups, each caller's still its own. */
import assert from "node:assert/strict";
import { KvWriteCombiner } from "../server/store/kv_writes.ts";

async function withKv(fn: (kv: Deno.Kv, commits: () => number) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/writes.kv`);
  let commits = 0;
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const op = atomic();
    const commit = op.commit.bind(op);
    op.commit = () => {
      commits++;
      return commit();
    };
    return op;
  };
  try {
    await fn(kv, () => commits);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("kv writes: a thousand concurrent writes take a handful of commits, all durable", async () => {
  await withKv(async (kv, commits) => {
    const writes = new KvWriteCombiner(kv);
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        writes.write(
          { type: "set", key: ["member", `r${i % 10}`, `u${i}`], value: true },
          { type: "set", key: ["urooms", `u${i}`, `r${i % 10}`], value: true },
        )),
    );
    // 2,000 mutations, at most 500 a commit; the first write commits alone.
    assert.ok(commits() <= 6, `${commits()} commits`);
    let rows = 0;
    for await (const _ of kv.list({ prefix: ["member"] })) rows++;
    assert.equal(rows, 1000);
    assert.equal((await kv.get(["urooms", "u999", "r9"])).value, true);
  });
});

Deno.test("kv writes: writes to one key land in the order they were asked for", async () => {
  await withKv(async (kv) => {
    const writes = new KvWriteCombiner(kv);
    await Promise.all([
      writes.write({ type: "set", key: ["k", 1], value: "first" }),
      writes.write({ type: "set", key: ["k", 1], value: "second" }),
      writes.write({ type: "set", key: ["k", 2], value: "kept?" }),
      writes.write({ type: "delete", key: ["k", 2] }),
      writes.write({ type: "set", key: ["k", 3], value: "expires", expireIn: 60_000 }),
    ]);
    assert.equal((await kv.get(["k", 1])).value, "second");
    assert.equal((await kv.get(["k", 2])).versionstamp, null);
    assert.equal((await kv.get(["k", 3])).value, "expires");
  });
});

Deno.test("kv writes: a write KV refuses fails its caller alone", async () => {
  await withKv(async (kv) => {
    const writes = new KvWriteCombiner(kv);
    const tooBig = "x".repeat(70 * 1024); // over KV's 64 KiB per value
    const results = await Promise.allSettled([
      writes.write({ type: "set", key: ["ok", 1], value: 1 }),
      writes.write({ type: "set", key: ["big"], value: tooBig }),
      writes.write({ type: "set", key: ["ok", 2], value: 2 }),
      writes.write({ type: "set", key: ["ok", 3], value: 3 }),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    assert.equal((await kv.get(["ok", 3])).value, 3);
    assert.equal((await kv.get(["big"])).versionstamp, null);
    await writes.settled();
  });
});
