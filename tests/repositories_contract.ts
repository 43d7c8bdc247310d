/** The repositories' contract (server/store/repositories.ts): one suite, run against every adapter. */
import assert from "node:assert/strict";
import type { ModerationEvent } from "../protocol/messages.ts";
import type {
  AccountRecord,
  ApiKeyRecord,
  Restriction,
  WebhookDelivery,
  WebhookRecord,
} from "../server/store/repositories.ts";
import type { Store } from "../server/store/types.ts";

export interface RepositoriesFixture {
  store: Store;
  /** Another handle on the same data, as a second worker would have; absent for memory. */
  openShared?: () => Promise<Store>;
  /** Close and open the same data again, as a restart would. */
  reopen?: () => Promise<Store>;
  dispose?: () => Promise<void>;
}

const HOUR = 60 * 60 * 1000;
const ada = { id: "u_ada", name: "Ada" };

export function account(username: string, extra: Partial<AccountRecord> = {}): AccountRecord {
  return {
    id: `u_${username}`,
    username,
    role: "user",
    source: "local",
    createdAt: 1_000,
    passwordHash: `scrypt$hash-of-${username}`,
    ...extra,
  };
}

function event(room: string, id: string, ts: number, action = "mute"): ModerationEvent {
  return {
    id,
    room,
    action: action as ModerationEvent["action"],
    actor: ada,
    target: { id: "u_bob", name: "Bob" },
    ts,
  };
}

function delivery(at: number, attempt: number): WebhookDelivery {
  return {
    delivery: `d-${at}-${attempt}`,
    event: "message.created",
    room: "general",
    seq: 1,
    attempt,
    at,
    status: 500,
    durationMs: 3,
    outcome: "retrying",
    retryAt: at + 1000,
  };
}

/**
 * Register the contract's cases for one adapter. With `ignore` (the reason), every case is
 * registered as ignored and the reason printed: skipped, never passed.
 */
export function repositoriesContract(
  name: string,
  open: () => Promise<RepositoriesFixture>,
  contract: { ignore?: string; restarts?: boolean } = {},
): void {
  if (contract.ignore) console.warn(`repositories contract (${name}) skipped: ${contract.ignore}`);
  const withStore = (
    title: string,
    body: (store: Store, fixture: RepositoriesFixture) => Promise<void>,
    ignore = contract.ignore,
  ) =>
    Deno.test({
      name: `repositories contract (${name}): ${title}${ignore ? ` (skipped: ${ignore})` : ""}`,
      ignore: ignore !== undefined,
      fn: async () => {
        const fixture = await open();
        const others: Store[] = [];
        const shared = fixture.openShared;
        if (shared) {
          fixture.openShared = async () => {
            const other = await shared();
            others.push(other);
            return other;
          };
        }
        try {
          await body(fixture.store, fixture);
        } finally {
          for (const other of others) await other.close();
          await fixture.store.close();
          await fixture.dispose?.();
        }
      },
    });

  withStore(
    "accounts: registered once per name ignoring case, found by id and by name",
    async (store) => {
      const first = await store.accounts.register(account("Ada"));
      assert.equal(first?.role, "admin", "the first account becomes admin");
      assert.equal(await store.accounts.register(account("ADA", { id: "u_other" })), null);
      const bob = await store.accounts.register(account("bob"));
      assert.deepEqual(bob, account("bob"), "the next one stays as given");
      assert.deepEqual(await store.accounts.get("u_Ada"), { ...account("Ada"), role: "admin" });
      assert.equal((await store.accounts.byName("aDa"))?.id, "u_Ada");
      assert.equal(await store.accounts.byName("nobody"), null);
      assert.equal(await store.accounts.get("u_other"), null, "a refused one leaves nothing");
      // An update keeps the name; an account put without registering has no name to find.
      await store.accounts.put({ ...bob!, role: "admin", disabled: true });
      assert.deepEqual(await store.accounts.byName("BOB"), {
        ...bob!,
        role: "admin",
        disabled: true,
      });
      const guest = account("guest-x1", { id: "g_1", role: "guest", source: "guest" });
      delete guest.passwordHash;
      await store.accounts.put(guest);
      assert.equal(await store.accounts.byName("guest-x1"), null);
      assert.deepEqual(await store.accounts.get("g_1"), guest);
      assert.deepEqual((await store.accounts.list()).map((a) => a.id), ["g_1", "u_Ada", "u_bob"]);
    },
  );

  withStore(
    "accounts: under concurrency a name is taken once and one account is first admin",
    async (store, fixture) => {
      const other = fixture.openShared ? await fixture.openShared() : store;
      const handles = [store, other];
      const attempts = await Promise.all([
        ...Array.from(
          { length: 8 },
          (_, i) => handles[i % 2]!.accounts.register(account("ada", { id: `u_ada${i}` })),
        ),
        ...Array.from(
          { length: 8 },
          (_, i) => handles[i % 2]!.accounts.register(account(`user${i}`)),
        ),
      ]);
      const made = attempts.filter((a) => a !== null);
      assert.equal(
        made.filter((a) => a.username === "ada").length,
        1,
        "one ada",
      );
      assert.equal(made.length, 9, "every other name registered");
      assert.equal(made.filter((a) => a.role === "admin").length, 1, "one first admin");
      const admin = made.find((a) => a.role === "admin")!;
      assert.equal((await store.accounts.get(admin.id))?.role, "admin");
      assert.equal((await other.accounts.register(account("later")))?.role, "user");
      assert.equal((await store.accounts.list()).length, 10);
    },
  );

  withStore("accounts: an admin made as such takes the first-admin mark", async (store) => {
    assert.equal(
      (await store.accounts.register(account("root", { role: "admin" })))?.role,
      "admin",
    );
    assert.equal((await store.accounts.register(account("ada")))?.role, "user");
  });

  withStore("sessions: kept by hash, listed and revoked per user, taken once", async (store) => {
    const s = (userId: string, createdAt: number) => ({
      userId,
      createdAt,
      expiresAt: createdAt + HOUR,
    });
    const keep = { expireIn: HOUR };
    await store.sessions.put("h2", s("u_ada", 2), keep);
    await store.sessions.put("h1", s("u_ada", 1), keep);
    await store.sessions.put("h3", s("u_ada", 3), keep);
    await store.sessions.put("hb", s("u_bob", 4), keep);
    assert.deepEqual(await store.sessions.get("h1"), s("u_ada", 1));
    assert.deepEqual((await store.sessions.ofUser("u_ada")).sort(), ["h1", "h2", "h3"]);
    // A renewal rewrites the session in place.
    await store.sessions.put("h1", { ...s("u_ada", 1), expiresAt: 99 }, keep);
    assert.equal((await store.sessions.get("h1"))?.expiresAt, 99);
    assert.equal((await store.sessions.ofUser("u_ada")).length, 3);
    const takes = await Promise.all([store.sessions.take("h3"), store.sessions.take("h3")]);
    assert.deepEqual(takes.filter(Boolean), [s("u_ada", 3)]);
    assert.deepEqual((await store.sessions.ofUser("u_ada")).sort(), ["h1", "h2"]);
    assert.deepEqual((await store.sessions.revokeUser("u_ada")).sort(), ["h1", "h2"]);
    assert.equal(await store.sessions.get("h1"), null);
    assert.deepEqual(await store.sessions.ofUser("u_ada"), []);
    assert.deepEqual(await store.sessions.revokeUser("u_ada"), []);
    assert.deepEqual(await store.sessions.ofUser("u_bob"), ["hb"]);
  });

  withStore(
    "invitations and tickets: each is taken once, also under concurrency",
    async (store, fixture) => {
      const other = fixture.openShared ? await fixture.openShared() : store;
      const invite = { by: "u_ada", createdAt: 5, expiresAt: 10 };
      await store.invites.put("i1", invite, { expireIn: HOUR });
      const invites = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).invites.take("i1")),
      );
      assert.deepEqual(invites.filter(Boolean), [invite]);
      const ticket = {
        principal: {
          user: ada,
          role: "user" as const,
          via: "session",
          session: "h1",
          fields: { team: "x" },
        },
        expiresAt: 30,
      };
      await store.tickets.put("t1", ticket, { expireIn: HOUR });
      await store.tickets.put("t2", ticket, { expireIn: HOUR });
      const tickets = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).tickets.take("t1")),
      );
      assert.deepEqual(tickets.filter(Boolean), [ticket]);
      assert.equal(await store.invites.take("t2"), null, "invitations and tickets stay apart");
      assert.deepEqual(await other.tickets.take("t2"), ticket);
    },
  );

  withStore("login failures: read, written and cleared per key", async (store) => {
    assert.equal(await store.loginFailures.get("ip:10.0.0.1"), null);
    const f = { count: 6, blockedUntil: 5_000, last: 4_000 };
    await store.loginFailures.put("ip:10.0.0.1", f, { expireIn: HOUR });
    await store.loginFailures.put("user:ada", { ...f, count: 1 }, { expireIn: HOUR });
    assert.deepEqual(await store.loginFailures.get("ip:10.0.0.1"), f);
    await store.loginFailures.delete("user:ada");
    assert.equal(await store.loginFailures.get("user:ada"), null);
    assert.deepEqual(await store.loginFailures.get("ip:10.0.0.1"), f);
  });

  withStore(
    "access: roles, invitations, bans, mutes and peers round-trip per room; forget clears one room",
    async (store) => {
      const ban: Restriction = { until: null, by: ada, reason: 'spam ✨ "quoted"', ts: 10 };
      const mute: Restriction = { until: 20_000, by: ada, reason: "", ts: 11 };
      for (const room of ["room1", "room10"]) {
        await store.access.setRole(room, "u_mod", "moderator");
        await store.access.setRole(room, "u_own", "owner");
        await store.access.invite(room, "u_inv", { by: "u_ada", ts: 12 });
        await store.access.invite(room, "u_inv2", { by: "u_ada", ts: 13 });
        await store.access.restrict("ban", room, "u_bad", ban);
        await store.access.restrict("mute", room, "u_loud", mute);
        await store.access.restrict("mute", room, "u_bad", mute);
      }
      await store.access.setPeers("dm-1", ["u_ada", "u_bob"]);
      await store.access.setRole("room1", "u_own", null);
      await store.access.setRole("room1", "u_mod", "owner");
      await store.access.uninvite("room1", "u_inv2");
      await store.access.lift("mute", "room1", "u_bad");
      const room1 = await store.access.load("room1");
      assert.deepEqual(room1.roles, new Map([["u_mod", "owner"]]));
      assert.deepEqual(room1.invited, new Map([["u_inv", { by: "u_ada", ts: 12 }]]));
      assert.deepEqual(room1.bans, new Map([["u_bad", ban]]));
      assert.deepEqual(room1.mutes, new Map([["u_loud", mute]]));
      assert.equal(room1.peers, null);
      assert.deepEqual((await store.access.load("dm-1")).peers, ["u_ada", "u_bob"]);
      await store.access.forget("room1");
      await store.access.forget("dm-1");
      const empty = {
        roles: new Map(),
        invited: new Map(),
        bans: new Map(),
        mutes: new Map(),
        peers: null,
      };
      assert.deepEqual(await store.access.load("room1"), empty);
      assert.deepEqual(await store.access.load("dm-1"), empty);
      const room10 = await store.access.load("room10");
      assert.equal(room10.roles.size, 2, "another room keeps its state");
      assert.deepEqual(room10.mutes, new Map([["u_bad", mute], ["u_loud", mute]]));
    },
  );

  withStore(
    "moderation log: newest first by pages, one millisecond in the order written",
    async (store) => {
      await store.modlog.append(event("r", "a", 1_000, "mute"));
      await store.modlog.append(event("r", "b", 1_000, "ban"));
      // Appends in one tick, as a burst: still in call order.
      await Promise.all(["c", "d", "e"].map((id) => store.modlog.append(event("r", id, 1_000))));
      await store.modlog.append(event("r", "f", 999));
      await store.modlog.append(event("r", "g", 2_000));
      await store.modlog.append(event("r", "h", 3_000));
      await store.modlog.append(event("r0", "x", 1_500));
      const ids = (page: { entries: ModerationEvent[] }) => page.entries.map((e) => e.id);
      const newest = await store.modlog.page("r", { limit: 2 });
      assert.deepEqual(ids(newest), ["h", "g"]);
      assert.equal(newest.hasMore, true);
      const older = await store.modlog.page("r", { before: 2_000, limit: 5 });
      assert.deepEqual(ids(older), ["e", "d", "c", "b", "a"]);
      assert.equal(older.hasMore, true);
      const rest = await store.modlog.page("r", { before: 1_000, limit: 5 });
      assert.deepEqual(ids(rest), ["f"]);
      assert.equal(rest.hasMore, false);
      assert.deepEqual(rest.entries[0], event("r", "f", 999), "entries read back whole");
      await store.modlog.forget("r");
      assert.deepEqual(await store.modlog.page("r", { limit: 10 }), {
        entries: [],
        hasMore: false,
      });
      assert.deepEqual(ids(await store.modlog.page("r0", { limit: 10 })), ["x"]);
    },
  );

  withStore("webhooks: kept, listed, removed with their delivery log", async (store) => {
    const hook = (id: string, room?: string): WebhookRecord => ({
      id,
      url: `https://example.test/${id}`,
      ...(room ? { room } : {}),
      events: ["message.created", "message.deleted"],
      secret: `whsec_${id}`,
      createdAt: 7,
      createdBy: "u_ada",
    });
    await store.webhooks.put(hook("b0"));
    await store.webhooks.put(hook("a0", "general"));
    assert.deepEqual(await store.webhooks.list(), [hook("a0", "general"), hook("b0")]);
    assert.deepEqual(await store.webhooks.get("a0"), hook("a0", "general"));
    assert.equal(await store.webhooks.get("zz"), null);
    const log = { expireIn: HOUR };
    await store.webhooks.logDelivery("a0", delivery(100, 1), log);
    await store.webhooks.logDelivery("a0", delivery(300, 1), log);
    await store.webhooks.logDelivery("a0", delivery(200, 1), log);
    await store.webhooks.logDelivery("a0", delivery(200, 2), log);
    await store.webhooks.logDelivery("b0", delivery(150, 1), log);
    const attempts = (list: WebhookDelivery[]) => list.map((d) => `${d.at}.${d.attempt}`);
    assert.deepEqual(attempts(await store.webhooks.deliveries("a0", 10)), [
      "300.1",
      "200.2",
      "200.1",
      "100.1",
    ]);
    assert.deepEqual(await store.webhooks.deliveries("a0", 1), [delivery(300, 1)]);
    await store.webhooks.trimDeliveries("a0", 2);
    assert.deepEqual(attempts(await store.webhooks.deliveries("a0", 10)), ["300.1", "200.2"]);
    assert.equal(await store.webhooks.remove("a0"), true);
    assert.equal(await store.webhooks.remove("a0"), false);
    assert.equal(await store.webhooks.get("a0"), null);
    assert.deepEqual(await store.webhooks.deliveries("a0", 10), []);
    // An attempt that finishes after its webhook is gone leaves no log.
    await store.webhooks.logDelivery("a0", delivery(400, 1), log);
    assert.deepEqual(await store.webhooks.deliveries("a0", 10), []);
    assert.deepEqual(attempts(await store.webhooks.deliveries("b0", 10)), ["150.1"]);
  });

  withStore("api keys: created once per id, listed, touched, taken once", async (store) => {
    const key = (id: string): ApiKeyRecord => ({
      id,
      name: `bot ${id} ✨`,
      rooms: ["general", "*"],
      actions: ["read", "post"],
      hash: `sha-${id}`,
      createdAt: 8,
      createdBy: "u_ada",
    });
    assert.equal(await store.apiKeys.create(key("k2")), true);
    assert.equal(await store.apiKeys.create(key("k1")), true);
    assert.equal(await store.apiKeys.create({ ...key("k1"), name: "again" }), false);
    assert.deepEqual(await store.apiKeys.list(), [key("k1"), key("k2")]);
    assert.deepEqual(await store.apiKeys.get("k1"), key("k1"));
    assert.equal(await store.apiKeys.lastUsed("k1"), null);
    await store.apiKeys.touch("k1", 50);
    await store.apiKeys.touch("k1", 60);
    assert.equal(await store.apiKeys.lastUsed("k1"), 60);
    assert.deepEqual(await store.apiKeys.get("k1"), key("k1"), "a use leaves the key as it was");
    const takes = await Promise.all([store.apiKeys.take("k1"), store.apiKeys.take("k1")]);
    assert.deepEqual(takes.filter(Boolean), [key("k1")]);
    assert.equal(await store.apiKeys.lastUsed("k1"), null);
    // A use racing the revocation never brings the key back.
    await store.apiKeys.touch("k1", 70);
    assert.equal(await store.apiKeys.get("k1"), null);
    assert.equal(await store.apiKeys.lastUsed("k1"), null);
    assert.deepEqual(await store.apiKeys.list(), [key("k2")]);
  });

  withStore("what the repositories keep survives a restart", async (store, fixture) => {
    await store.accounts.register(account("ada"));
    await store.sessions.put("h1", { userId: "u_ada", createdAt: 1, expiresAt: 2 }, {
      expireIn: HOUR,
    });
    await store.access.setRole("r", "u_ada", "owner");
    await store.modlog.append(event("r", "m1", 5));
    await store.close();
    fixture.store = await fixture.reopen!();
    const again = fixture.store;
    assert.equal((await again.accounts.byName("ADA"))?.role, "admin");
    assert.deepEqual(await again.sessions.ofUser("u_ada"), ["h1"]);
    assert.equal((await again.access.load("r")).roles.get("u_ada"), "owner");
    assert.equal((await again.modlog.page("r", { limit: 5 })).entries[0]?.id, "m1");
  }, contract.ignore ?? (contract.restarts === false ? "nothing outlives this store" : undefined));
}
