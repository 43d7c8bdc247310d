/**
 * Recovery soak: clients send bursts while a seeded chaos helper drops their sockets at
 * random moments, hundreds of times. Every client must end with the identical,
 * complete, ordered timeline, and nothing stored twice.
 */
import assert from "node:assert/strict";
import { startServer } from "./helpers.ts";
import { RecoveringClient } from "./recovering_client.ts";

const SEED = Number(Deno.env.get("PARLEY_SOAK_SEED") ?? 20261122);
const TARGET_DROPS = 300;
const MAX_ROUNDS = 400;
const TIME_LIMIT_MS = 60_000;

/** mulberry32: small, fast and good enough to make the chaos repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test(`recovery soak: ${TARGET_DROPS} random drops, one timeline (seed ${SEED})`, async () => {
  const random = prng(SEED);
  const dir = await Deno.makeTempDir({ prefix: "parley-soak-" });
  const server = await startServer({
    data: dir,
    messageRate: { perSecond: 10_000, burst: 10_000 },
    // 300 reconnects from one address within seconds, on purpose.
    upgradeRate: { perSecond: 0, burst: 1 },
  });
  const rooms = ["general", "soak"];
  await server.app.hub.store.createRoom({ name: "soak", topic: "", createdBy: "test" });
  const clients = await Promise.all(
    ["Ada", "Bob", "Cy", "Dee"].map((name) => RecoveringClient.create(server, name, rooms)),
  );
  let drops = 0;
  let sent = 0;
  const started = Date.now();
  try {
    for (const c of clients) await c.connect();
    for (let round = 0; drops < TARGET_DROPS && round < MAX_ROUNDS; round++) {
      assert.ok(Date.now() - started < TIME_LIMIT_MS, "soak ran out of time");
      const work: Promise<unknown>[] = [];
      for (const c of clients) {
        const burst = 1 + Math.floor(random() * 6);
        for (let i = 0; i < burst; i++) {
          const room = rooms[Math.floor(random() * rooms.length)]!;
          work.push(c.send(room, `r${round} ${c.acked.size + c.outbox.size}`));
          sent++;
        }
        if (random() < 0.4) {
          // Drop mid-burst: some sends are committed without their ack reaching us.
          const delay = random() * 3;
          work.push(new Promise((r) => setTimeout(r, delay)).then(() => c.drop()));
          drops++;
        }
      }
      await Promise.allSettled(work);
      for (const c of clients) if (!c.connected) await c.connect();
    }
    // Final catch-up: everyone reconnects once more and recovers.
    for (const c of clients) {
      c.drop();
      await c.connect();
    }
    assert.ok(drops >= TARGET_DROPS, `only ${drops} drops`);
    for (const c of clients) {
      assert.equal(c.outbox.size, 0, "every message was acknowledged in the end");
    }
    const totalAcked = clients.reduce((n, c) => n + c.acked.size, 0);
    assert.equal(totalAcked, sent, "every message sent was acknowledged once");

    for (const room of rooms) {
      const reference = [...clients[0]!.timeline.get(room)!.values()].sort((a, b) => a.seq - b.seq);
      // Gapless and ordered.
      assert.deepEqual(
        reference.map((m) => m.seq),
        reference.map((_, i) => i + 1),
        `${room}: gapless`,
      );
      // Complete and without duplicates: each acked nonce exactly once, at its acked seq.
      const byNonce = new Map<string, number>();
      for (const m of reference) {
        assert.ok(!byNonce.has(m.nonce!), `${room}: nonce ${m.nonce} stored twice`);
        byNonce.set(m.nonce!, m.seq);
      }
      for (const c of clients) {
        for (const [nonce, seq] of c.acked) {
          if (byNonce.has(nonce)) assert.equal(byNonce.get(nonce), seq, `${nonce} moved`);
        }
        const theirs = [...c.timeline.get(room)!.values()].sort((a, b) => a.seq - b.seq);
        assert.deepEqual(
          theirs.map((m) => m.id),
          reference.map((m) => m.id),
          `${room}: identical timelines`,
        );
      }
    }
    const everyAcked = clients.flatMap((c) => [...c.acked.keys()]);
    const stored = new Set(
      rooms.flatMap((room) => [...clients[0]!.timeline.get(room)!.values()].map((m) => m.nonce)),
    );
    assert.ok(
      everyAcked.every((n) => stored.has(n)),
      "every acknowledged message is in the timeline",
    );
    assert.equal(stored.size, sent, "nothing stored that was not sent");
    console.log(
      `soak: seed ${SEED}, ${drops} drops, ${sent} messages, ` +
        `${clients.reduce((n, c) => n + c.recoveredJoins, 0)} recovered joins, ` +
        `${clients.reduce((n, c) => n + c.resets, 0)} resets, ${Date.now() - started} ms`,
    );
  } finally {
    for (const c of clients) await c.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
