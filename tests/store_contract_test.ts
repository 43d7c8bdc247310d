import assert from "node:assert/strict";
import { ProtocolError } from "../protocol/errors.ts";
import { KvStore } from "../server/store/kv.ts";
import { MemoryStore } from "../server/store/memory.ts";
import { PostgresStore } from "../server/store/postgres.ts";
import { connect, migrate, MIGRATIONS } from "../server/store/postgres_schema.ts";
import { storeContract, text } from "./store_contract.ts";
import { postgresMissing, type PostgresServer, sharedPostgres } from "./support/postgres.ts";

storeContract(
  "memory",
  (options) => Promise.resolve({ store: new MemoryStore(options) }),
  {
    lacks: {
      openShared: "a memory store has no second handle on the same data",
      reopen: "a memory store keeps nothing to reopen",
    },
  },
);

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

const pgMissing = postgresMissing();

/** One cluster for the file; each case gets a database of its own, dropped after. */
storeContract("postgres", async (options) => {
  const server = await sharedPostgres();
  if (!server) throw new Error("unreachable: the postgres cases are ignored without PostgreSQL");
  const db = await server.createDatabase();
  const open = () => PostgresStore.open(db.url, options);
  return {
    store: await open(),
    openShared: open,
    reopen: open,
    dispose: db.drop,
  };
}, pgMissing ? { ignore: pgMissing } : {});

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

const ada = { id: "u_ada", name: "Ada" };

/** A PostgreSQL-only case: a database of its own on the file's shared cluster. */
function withPostgres(
  name: string,
  fn: (server: PostgresServer, url: string) => Promise<void>,
): void {
  Deno.test({
    name: `postgres store: ${name}`,
    ignore: pgMissing !== null,
    fn: async () => {
      const server = await sharedPostgres();
      if (!server) throw new Error("unreachable: ignored without PostgreSQL");
      const db = await server.createDatabase();
      try {
        await fn(server, db.url);
      } finally {
        await db.drop();
      }
    },
  });
}

withPostgres("workers starting at once migrate the schema once and share one epoch", async (
  _server,
  url,
) => {
  const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
  try {
    assert.equal(new Set(stores.map((s) => s.epoch)).size, 1);
    const [one, two] = stores;
    await one!.createRoom({ name: "r", topic: "", createdBy: ada.id });
    assert.equal((await two!.append(text("r", ada, "hi", "n-1"))).message.seq, 1);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
  // A later migration is applied once, on top, by whichever worker gets there first.
  const sql = connect(url);
  try {
    const next = [...MIGRATIONS, "CREATE TABLE later (x int); INSERT INTO later VALUES (1);"];
    const top = next.length;
    assert.deepEqual(await Promise.all([migrate(sql, next), migrate(sql, next)]), [top, top]);
    assert.deepEqual([...await sql`SELECT x FROM later`], [{ x: 1 }]);
    const versions = await sql`SELECT version FROM schema_migrations ORDER BY version`;
    assert.deepEqual(versions.map((r) => r.version), next.map((_, i) => i + 1));
    await assert.rejects(
      migrate(sql, MIGRATIONS.slice(0, 0)),
      new RegExp(`schema is version ${top}`),
    );
  } finally {
    await sql.end();
  }
});

withPostgres(
  "a PostgreSQL restart under a live store: appends reject as unavailable, nothing acknowledged is lost, seq stays gapless",
  async (server, url) => {
    const store = await PostgresStore.open(url, { timeoutMs: 5_000 });
    // A sibling process's handle, appending to the same room.
    const sibling = await PostgresStore.open(url, { timeoutMs: 5_000 });
    try {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      const acked = new Map<string, number>();
      let refused = 0;
      let next = 0;
      const send = async (via: PostgresStore) => {
        const nonce = `n-${next++}`;
        try {
          acked.set(nonce, (await via.append(text("r", ada, nonce, nonce))).message.seq);
        } catch (error) {
          assert.ok(error instanceof ProtocolError, `a ProtocolError, not ${error}`);
          assert.equal(error.code, "unavailable");
          refused++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      let running = true;
      // Senders on both handles keep batches in flight while the server goes away and
      // comes back.
      const senders = Array.from({ length: 6 }, async (_, i) => {
        while (running) await send(i % 2 ? store : sibling);
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await server.stopServer();
      try {
        const started = Date.now();
        const during = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.append(text("r", ada, "x", `down-${i}`))),
        );
        assert.ok(Date.now() - started < 4_000, "rejected promptly, not at the deadline");
        for (const result of during) {
          assert.equal(result.status, "rejected");
          assert.equal((result.reason as ProtocolError).code, "unavailable");
        }
        await assert.rejects(store.getRoom("r"), { code: "unavailable" });
      } finally {
        await server.startServer();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      running = false;
      await Promise.all(senders);
      // The same instance works again without being reopened.
      const after = await store.append(text("r", ada, "after", "n-after"));
      acked.set("n-after", after.message.seq);
      assert.ok(acked.size > 20, `acknowledged ${acked.size}`);
      assert.ok(refused > 0, "some appends met the outage");

      const last = (await store.getRoom("r"))!.lastSeq;
      assert.equal(after.message.seq, last);
      const page = await store.history("r", { after: 0, limit: last + 1 });
      assert.deepEqual(
        page.messages.map((m) => m.seq),
        Array.from({ length: last }, (_, i) => i + 1),
      );
      const stored = new Map(page.messages.map((m) => [m.nonce, m.seq]));
      for (const [nonce, seq] of acked) assert.equal(stored.get(nonce), seq, `${nonce} kept`);
    } finally {
      await store.close();
      await sibling.close();
    }
  },
);
