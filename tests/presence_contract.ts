/** The Presence contract: one suite, run against every adapter. */
import assert from "node:assert/strict";
import type { Member } from "../protocol/messages.ts";
import type { Expired, Presence } from "../server/presence/types.ts";

const ada: Member = { id: "u_ada", name: "Ada" };
const bob: Member = { id: "u_bob", name: "Bob" };
const cy: Member = { id: "u_cy", name: "Cy" };

/** Instances sharing one engine, as processes of one deployment would. */
export interface PresenceCluster {
  /** A new instance; the cluster closes every instance it made when disposed. */
  instance(): Promise<Presence>;
  /** Let `ms` pass: a fake clock for memory, real time for an engine with its own clock. */
  advance(ms: number): Promise<void>;
  /** Take the engine away and bring it back (adapters with a server). */
  outage?: { pause(): Promise<void>; resume(): Promise<void> };
  dispose(): Promise<void>;
}

export interface PresenceContractOptions {
  /** Why this adapter cannot run here at all: every case is then ignored. */
  ignore?: string | null;
  /** Why the outage case does not apply; leave unset when clusters supply `outage`. */
  noOutage?: string;
}

export function presenceContract(
  name: string,
  open: () => Promise<PresenceCluster>,
  options: PresenceContractOptions = {},
): void {
  if (options.ignore) console.warn(`presence contract (${name}) ignored: ${options.ignore}`);
  const withCluster = (
    title: string,
    body: (cluster: PresenceCluster) => Promise<void>,
    unsupported?: string,
  ) => {
    const why = options.ignore ?? unsupported;
    Deno.test({
      name: `presence contract (${name}): ${title}${why ? ` (ignored: ${why})` : ""}`,
      ignore: why !== undefined,
      fn: async () => {
        const cluster = await open();
        try {
          await body(cluster);
        } finally {
          await cluster.dispose();
        }
      },
    });
  };

  withCluster(
    "a user joins on their first entry anywhere and leaves with their last",
    async (c) => {
      const [a, b] = [await c.instance(), await c.instance()];
      assert.notEqual(a.instanceId, b.instanceId);
      assert.equal(await a.add("r", ada, "c1"), true, "first entry");
      assert.equal(await b.add("r", ada, "c2"), false, "present through a");
      assert.equal(await a.add("r", ada, "c1"), false, "adding again refreshes");
      assert.equal(await b.add("r", bob, "c3"), true);
      assert.equal(await a.remove("r", ada.id, "c1"), false, "still there on b");
      assert.equal(await b.remove("r", ada.id, "c2"), true, "the last one");
      assert.equal(await b.remove("r", ada.id, "c2"), false, "already gone");
      assert.equal(await a.remove("r", bob.id, "c3"), false, "not a's entry");
      assert.equal(await a.add("r", ada, "c1"), true, "joins again");
      assert.equal(await a.add("s", ada, "c1"), true, "rooms are independent");
    },
  );

  withCluster("one device leaving keeps a user with another on another instance", async (c) => {
    const [a, b] = [await c.instance(), await c.instance()];
    await a.add("r", ada, "phone");
    await b.add("r", ada, "laptop");
    await a.add("r", bob, "c");
    assert.equal(await b.remove("r", ada.id, "laptop"), false);
    assert.deepEqual(sorted(await a.snapshot("r")), [ada, bob]);
    assert.deepEqual(await b.counts(["r"]), new Map([["r", 2]]));
    assert.equal(await a.remove("r", ada.id, "phone"), true);
    assert.deepEqual(await b.snapshot("r"), [bob]);
  });

  withCluster("racing instances: one first entry, one last entry", async (c) => {
    const instances = await Promise.all([c.instance(), c.instance(), c.instance()]);
    const conns = instances.flatMap((p) => [1, 2, 3].map((n) => ({ p, conn: `c${n}` })));
    const added = await Promise.all(conns.map(({ p, conn }) => p.add("r", ada, conn)));
    assert.equal(added.filter(Boolean).length, 1);
    const removed = await Promise.all(conns.map(({ p, conn }) => p.remove("r", ada.id, conn)));
    assert.equal(removed.filter(Boolean).length, 1);
    assert.deepEqual(await instances[0]!.snapshot("r"), []);
  });

  withCluster("snapshots and counts are cluster-wide, one entry per user", async (c) => {
    const [a, b] = [await c.instance(), await c.instance()];
    await a.add("r", ada, "c1");
    await a.add("r", ada, "c2");
    await b.add("r", ada, "c3");
    await b.add("r", bob, "c4");
    await b.add("s", cy, "c5");
    for (const p of [a, b]) {
      assert.deepEqual(sorted(await p.snapshot("r")), [ada, bob]);
      assert.deepEqual(await p.snapshot("s"), [cy]);
      assert.deepEqual(await p.snapshot("empty"), []);
      const counts = await p.counts(["r", "s", "empty"]);
      assert.deepEqual(counts, new Map([["r", 2], ["s", 1], ["empty", 0]]));
    }
    const many = Array.from({ length: 1200 }, (_, i) => `room-${i}`);
    await a.add("room-1100", cy, "c6");
    const counts = await b.counts(many);
    assert.equal(counts.size, many.length);
    assert.equal(counts.get("room-1100"), 1);
    assert.equal(counts.get("room-0"), 0);
  });

  withCluster(
    "an instance that stops refreshing loses its users once, to one of the sweepers",
    async (c) => {
      const [a, b, dead] = [await c.instance(), await c.instance(), await c.instance()];
      const ttl = a.ttlMs;
      await a.add("r", ada, "c1");
      await dead.add("r", bob, "c2");
      await dead.add("r", ada, "c3");
      await dead.add("s", bob, "c4");
      // `dead` is killed here: no refresh, no close.
      await c.advance(ttl * 0.6);
      await Promise.all([a.refresh(["r", "s"]), b.refresh(["r", "s"])]);
      await c.advance(ttl * 0.6);
      assert.deepEqual(await b.snapshot("r"), [ada], "an expired entry no longer counts");
      assert.deepEqual(await a.counts(["r", "s"]), new Map([["r", 1], ["s", 0]]));

      const sweeps = await Promise.all([
        a.refresh(["r", "s"]),
        b.refresh(["r", "s"]),
        a.refresh(["r", "s"]),
        b.refresh(["r", "s"]),
      ]);
      assert.deepEqual(sortedExpired(sweeps.flat()), [
        { room: "r", user: bob },
        { room: "s", user: bob },
      ]);
      assert.deepEqual(await a.refresh(["r", "s"]), [], "reported once");
      assert.equal(await a.remove("r", ada.id, "c1"), true, "dead's entry for ada is gone");
    },
  );

  withCluster("refresh keeps an instance's entries past the ttl", async (c) => {
    const [a, b] = [await c.instance(), await c.instance()];
    const ttl = a.ttlMs;
    await a.add("r", ada, "c1");
    await b.add("r", bob, "c2");
    for (let i = 0; i < 3; i++) {
      await c.advance(ttl * 0.5);
      await a.refresh([]);
    }
    // b never refreshed: its entry is gone, and a's sweep says so.
    assert.deepEqual(await a.refresh(["r"]), [{ room: "r", user: bob }]);
    assert.deepEqual(await b.snapshot("r"), [ada]);
  });

  withCluster("close removes the instance's entries", async (c) => {
    const [a, b] = [await c.instance(), await c.instance()];
    await a.add("r", ada, "c1");
    await a.add("r", bob, "c2");
    await b.add("r", ada, "c3");
    await a.close();
    assert.deepEqual(await b.snapshot("r"), [ada]);
    assert.equal(await b.remove("r", ada.id, "c3"), true, "a's entry went with it");
    assert.deepEqual(await b.counts(["r"]), new Map([["r", 0]]));
    assert.deepEqual(await b.refresh(["r"]), [], "closing is not expiring");
  });

  withCluster(
    "calls reject while the engine cannot be reached, and work again after",
    async (c) => {
      assert.ok(c.outage, "the cluster must supply an outage");
      const a = await c.instance();
      await a.add("r", ada, "c1");
      await c.outage.pause();
      const started = Date.now();
      await assert.rejects(a.add("r", bob, "c2"));
      await assert.rejects(a.remove("r", ada.id, "c1"));
      await assert.rejects(a.snapshot("r"));
      await assert.rejects(a.counts(["r"]));
      await assert.rejects(a.refresh(["r"]));
      assert.ok(Date.now() - started < 2500, "they fail fast, they do not queue");
      await c.outage.resume();
      await until(async () => {
        try {
          return await a.add("r", bob, "c2");
        } catch {
          return false;
        }
      });
      assert.deepEqual(await a.snapshot("r"), [bob]);
    },
    options.noOutage,
  );
}

function sorted(members: Member[]): Member[] {
  return [...members].sort((x, y) => x.id.localeCompare(y.id));
}

function sortedExpired(expired: Expired[]): Expired[] {
  const key = (e: Expired) => `${e.room}\n${e.user.id}`;
  return [...expired].sort((x, y) => key(x).localeCompare(key(y)));
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
