import assert from "node:assert/strict";
import type { ModerationEvent } from "../protocol/messages.ts";
import { KvStore } from "../server/store/kv.ts";
import { MemoryStore } from "../server/store/memory.ts";
import { PostgresStore } from "../server/store/postgres.ts";
import { connect, migrate, MIGRATIONS } from "../server/store/postgres_schema.ts";
import { account, repositoriesContract } from "./repositories_contract.ts";
import { postgresMissing, sharedPostgres } from "./support/postgres.ts";

repositoriesContract("memory", () => Promise.resolve({ store: new MemoryStore() }), {
  restarts: false,
});

repositoriesContract("kv", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-kv-repos-" });
  const path = `${dir}/parley.kv`;
  return {
    store: await KvStore.open(path),
    openShared: () => KvStore.open(path),
    reopen: () => KvStore.open(path),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
});

const pgMissing = postgresMissing();

/** One cluster for the file; each case gets a database of its own, dropped after. */
repositoriesContract("postgres", async () => {
  const server = await sharedPostgres();
  if (!server) throw new Error("unreachable: the postgres cases are ignored without PostgreSQL");
  const db = await server.createDatabase();
  const open = () => PostgresStore.open(db.url);
  return { store: await open(), openShared: open, reopen: open, dispose: db.drop };
}, pgMissing ? { ignore: pgMissing } : {});

const HOUR = 60 * 60 * 1000;
const ada = { id: "u_ada", name: "Ada" };

/** A PostgreSQL-only case: a database of its own on the file's shared cluster. */
function withPostgres(name: string, fn: (url: string) => Promise<void>): void {
  Deno.test({
    name: `postgres repositories: ${name}${pgMissing ? ` (skipped: ${pgMissing})` : ""}`,
    ignore: pgMissing !== null,
    fn: async () => {
      const server = await sharedPostgres();
      if (!server) throw new Error("unreachable: ignored without PostgreSQL");
      const db = await server.createDatabase();
      try {
        await fn(db.url);
      } finally {
        await db.drop();
      }
    },
  });
}

withPostgres("a value past its expireIn is absent to readers", async (url) => {
  const store = await PostgresStore.open(url);
  try {
    const session = { userId: "u_ada", createdAt: 1, expiresAt: 2 };
    const brief = { expireIn: 30 };
    await store.sessions.put("short", session, brief);
    await store.sessions.put("long", session, { expireIn: HOUR });
    await store.invites.put("i", { by: "u_ada", createdAt: 1, expiresAt: 2 }, brief);
    await store.tickets.put(
      "t",
      { principal: { user: ada, role: "user", via: "x" }, expiresAt: 2 },
      brief,
    );
    await store.loginFailures.put("ip:1", { count: 1, blockedUntil: 0, last: 1 }, brief);
    await store.webhooks.put({
      id: "w1",
      url: "https://example.test/",
      events: ["message.created"],
      secret: "s",
      createdAt: 1,
      createdBy: "u_ada",
    });
    await store.webhooks.logDelivery("w1", {
      delivery: "d",
      event: "message.created",
      room: "r",
      seq: 1,
      attempt: 1,
      at: 5,
      durationMs: 1,
      outcome: "delivered",
    }, brief);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await store.sessions.get("short"), null);
    assert.deepEqual(await store.sessions.ofUser("u_ada"), ["long"]);
    assert.equal(await store.sessions.take("short"), null);
    assert.equal(await store.invites.take("i"), null);
    assert.equal(await store.tickets.take("t"), null);
    assert.equal(await store.loginFailures.get("ip:1"), null);
    assert.deepEqual(await store.webhooks.deliveries("w1", 10), []);
    // Written again, it is live again.
    await store.sessions.put("short", session, { expireIn: HOUR });
    assert.deepEqual(await store.sessions.get("short"), session);
  } finally {
    await store.close();
  }
});

withPostgres("a database at schema 1 has its records moved into the typed tables", async (url) => {
  const far = Date.now() + HOUR;
  const hook = {
    id: "w1",
    url: "https://example.test/",
    room: "r",
    events: ["message.created"],
    secret: "whsec_1",
    createdAt: 6,
    createdBy: "u_ada",
  };
  const key = {
    id: "k1",
    name: "helper",
    rooms: ["*"],
    actions: ["read"],
    hash: "sha",
    createdAt: 7,
    createdBy: "u_ada",
  };
  const modEvent = (id: string, ts: number): ModerationEvent => ({
    id,
    room: "r",
    action: "mute",
    actor: ada,
    ts,
  });
  const delivery = (at: number) => ({
    delivery: `d${at}`,
    event: "message.created",
    room: "r",
    seq: 1,
    attempt: 1,
    at,
    status: 200,
    durationMs: 1,
    outcome: "delivered",
  });
  const ban = { until: null, by: ada, reason: "spam", ts: 4 };
  const mute = { until: 9, by: ada, reason: "", ts: 5 };
  const principal = { user: ada, role: "user", via: "session", session: "h1" };
  const rows: [string[], unknown, number | null][] = [
    [["meta", "first-admin"], "u_ada", null],
    [["acct", "u_ada"], { ...account("Ada"), id: "u_ada", role: "admin" }, null],
    [["uname", "ada"], "u_ada", null],
    [["acct", "u_bob"], { ...account("bob"), disabled: true }, null],
    [["uname", "bob"], "u_bob", null],
    [["acct", "g_1"], {
      id: "g_1",
      username: "guest-1",
      role: "guest",
      source: "guest",
      createdAt: 2,
    }, null],
    [["sess", "h1"], { userId: "u_ada", createdAt: 1, expiresAt: far }, far],
    [["usess", "u_ada", "h1"], 1, far],
    [["sess", "old"], { userId: "u_ada", createdAt: 1, expiresAt: 2 }, 2],
    [["usess", "u_ada", "old"], 1, 2],
    [["invite", "i1"], { by: "u_ada", createdAt: 1, expiresAt: far }, far],
    [["ticket", "t1"], { principal, expiresAt: far }, far],
    [["loginfail", "ip:10.0.0.1"], { count: 6, blockedUntil: 5, last: 4 }, far],
    [["role", "r", "u_ada"], "owner", null],
    [["inv", "r", "u_bob"], { by: "u_ada", ts: 3 }, null],
    [["ban", "r", "u_bad"], ban, null],
    [["mute", "r", "u_bob"], mute, null],
    [["dm", "dm-1"], ["u_ada", "u_bob"], null],
    [["modlog", "r", "000000000001000-000000002-b"], modEvent("b", 1000), null],
    [["modlog", "r", "000000000001000-000000001-a"], modEvent("a", 1000), null],
    [["modlog", "r", "000000000000900-000000003-c"], modEvent("c", 900), null],
    [["webhook", "w1"], hook, null],
    [["whlog", "w1", "000000000000200-000002-abc"], delivery(200), far],
    [["whlog", "w1", "000000000000100-000001-abc"], delivery(100), far],
    [["whlog", "gone", "000000000000100-000001-abc"], delivery(100), far],
    [["apikey", "k1"], key, null],
    [["apikeyused", "k1"], 77, far],
  ];
  const sql = connect(url);
  try {
    await migrate(sql, MIGRATIONS.slice(0, 1));
    for (const [key, value, expiresAt] of rows) {
      await sql`INSERT INTO records (key, value, expires_at)
        VALUES (${key}::text[], ${JSON.stringify(value)}::text::jsonb, ${expiresAt}::int8)`;
    }
  } finally {
    await sql.end();
  }
  const store = await PostgresStore.open(url);
  try {
    assert.deepEqual(await store.accounts.byName("ADA"), {
      ...account("Ada"),
      id: "u_ada",
      role: "admin",
    });
    assert.equal((await store.accounts.byName("bob"))?.disabled, true);
    assert.equal(await store.accounts.byName("guest-1"), null);
    assert.deepEqual((await store.accounts.list()).map((a) => a.id), ["g_1", "u_ada", "u_bob"]);
    assert.equal(await store.accounts.register(account("ada", { id: "u_new" })), null);
    assert.equal((await store.accounts.register(account("cy")))?.role, "user", "first admin kept");
    assert.deepEqual(await store.sessions.ofUser("u_ada"), ["h1"], "expired rows stay behind");
    assert.deepEqual(await store.invites.take("i1"), { by: "u_ada", createdAt: 1, expiresAt: far });
    assert.deepEqual(await store.tickets.take("t1"), { principal, expiresAt: far });
    assert.deepEqual(await store.loginFailures.get("ip:10.0.0.1"), {
      count: 6,
      blockedUntil: 5,
      last: 4,
    });
    const access = await store.access.load("r");
    assert.deepEqual(access.roles, new Map([["u_ada", "owner"]]));
    assert.deepEqual(access.invited, new Map([["u_bob", { by: "u_ada", ts: 3 }]]));
    assert.deepEqual(access.bans, new Map([["u_bad", ban]]));
    assert.deepEqual(access.mutes, new Map([["u_bob", mute]]));
    assert.deepEqual((await store.access.load("dm-1")).peers, ["u_ada", "u_bob"]);
    // Old entries keep their order, and new ones of the same millisecond follow them.
    await store.modlog.append(modEvent("d", 1000));
    const log = await store.modlog.page("r", { limit: 10 });
    assert.deepEqual(log.entries.map((e) => e.id), ["d", "b", "a", "c"]);
    assert.deepEqual(await store.webhooks.list(), [hook]);
    assert.deepEqual(await store.webhooks.deliveries("w1", 10), [delivery(200), delivery(100)]);
    assert.deepEqual(await store.webhooks.deliveries("gone", 10), []);
    assert.deepEqual(await store.apiKeys.get("k1"), key);
    assert.equal(await store.apiKeys.lastUsed("k1"), 77);
  } finally {
    await store.close();
  }
  const check = connect(url);
  try {
    const [row] = await check`SELECT to_regclass('records') AS t`;
    assert.equal(row?.t, null, "the records table is gone");
  } finally {
    await check.end();
  }
});
