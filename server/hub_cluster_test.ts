/**
 * Two hubs on one shared store, bus and presence, as two processes would be: what the
 * issue found wrong (presence, false leaves, a mute whose bus message is lost) and what
 * a lossy or reordering bus must not break (order, gaps).
 */
import assert from "node:assert/strict";
import { FakeConnection, tick } from "../tests/fakes.ts";
import { LocalBroker } from "./bus/local.ts";
import type { Bus, BusEnvelope } from "./bus/types.ts";
import { Hub } from "./hub.ts";
import { MemoryPresenceRegistry } from "./presence/memory.ts";
import { MemoryStore } from "./store/memory.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };
const cy = { id: "u_cy", name: "Cy" };

/** A bus endpoint whose inbound envelopes a test may drop or hold back. */
class FaultyBus implements Bus {
  drop: (envelope: BusEnvelope) => boolean = () => false;
  readonly held: BusEnvelope[] = [];
  hold: (envelope: BusEnvelope) => boolean = () => false;
  readonly #handlers = new Set<(envelope: BusEnvelope) => void>();
  constructor(private readonly inner: Bus) {
    inner.subscribe((envelope) => {
      if (this.drop(envelope)) return;
      if (this.hold(envelope)) {
        this.held.push(envelope);
        return;
      }
      for (const handler of this.#handlers) handler(envelope);
    });
  }
  get instanceId() {
    return this.inner.instanceId;
  }
  get status() {
    return this.inner.status;
  }
  /** It drops envelopes on purpose. */
  readonly lossy = true;
  release(): void {
    for (const envelope of this.held.splice(0)) {
      for (const handler of this.#handlers) handler(envelope);
    }
  }
  publish(envelope: Omit<BusEnvelope, "origin">) {
    return this.inner.publish(envelope);
  }
  subscribe(handler: (envelope: BusEnvelope) => void) {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }
  watch(room: string) {
    return this.inner.watch(room);
  }
  unwatch(room: string) {
    return this.inner.unwatch(room);
  }
  onStatus(listener: Parameters<Bus["onStatus"]>[0]) {
    return this.inner.onStatus(listener);
  }
  close() {
    return this.inner.close();
  }
}

async function twoHubs(
  options: { accessTtlMs?: number; gapWaitMs?: number; controlTickMs?: number } = {},
) {
  const store = new MemoryStore();
  await store.createRoom({ name: "a", topic: "", createdBy: "t" });
  const broker = new LocalBroker();
  const presence = new MemoryPresenceRegistry();
  const busA = new FaultyBus(broker.connect("A"));
  const busB = new FaultyBus(broker.connect("B"));
  const budgets = { messages: { perSecond: 1000, burst: 1000 } };
  const hubA = new Hub({ store, bus: busA, presence: presence.connect("A"), budgets, ...options });
  const hubB = new Hub({ store, bus: busB, presence: presence.connect("B"), budgets, ...options });
  const close = () => {
    hubA.close(1012, "done");
    hubB.close(1012, "done");
  };
  return { store, hubA, hubB, busA, busB, close };
}

async function on(hub: Hub, user: { id: string; name: string }, room = "a") {
  const conn = new FakeConnection(user);
  await hub.connect(conn);
  await hub.join(conn, room);
  return conn;
}

Deno.test("hub cluster: presence snapshots and online counts cover both hubs", async () => {
  const { hubA, hubB, store, close } = await twoHubs();
  try {
    await on(hubA, ada);
    const b = await on(hubB, bob);
    const join = await hubB.join(b, "a");
    assert.deepEqual(join.presence.map((u) => u.id).sort(), [ada.id, bob.id]);
    assert.equal(join.room.online, 2);
    const members = await hubB.members(b, "a");
    assert.ok(members.members.every((m) => m.online === (m.user.id !== cy.id)));
    assert.equal((await hubA.listRooms()).find((r) => r.name === "a")?.online, 2);
    assert.ok(await store.getRoom("a"));
  } finally {
    close();
  }
});

Deno.test("hub cluster: closing a tab on B while still on A is not a leave", async () => {
  const { hubA, hubB, close } = await twoHubs();
  try {
    const watcher = await on(hubA, cy);
    await on(hubA, ada);
    const adaOnB = await on(hubB, ada);
    await tick();
    watcher.clear();
    hubB.disconnect(adaOnB);
    await tick();
    await tick();
    assert.equal(watcher.pushes("presence").length, 0, "ada is still on A");
    const adaOnA = [...(await hubA.join(watcher, "a")).presence].map((u) => u.id);
    assert.ok(adaOnA.includes(ada.id));
  } finally {
    close();
  }
});

Deno.test("hub cluster: a mute whose bus message is lost holds within the access TTL", async () => {
  const { hubA, hubB, busB, close } = await twoHubs({ accessTtlMs: 200 });
  try {
    const owner = new FakeConnection({ id: "u_owner", name: "Owner" }, "admin");
    await hubA.connect(owner);
    await hubA.join(owner, "a");
    const b = await on(hubB, bob);
    await hubB.send(b, "a", "before", "nonce-before"); // B caches the room's access
    busB.drop = (envelope) => envelope.control?.type === "access";
    await hubA.mute(owner, "a", bob.id, 5);
    await new Promise((r) => setTimeout(r, 250));
    await assert.rejects(hubB.send(b, "a", "after", "nonce-after1"), { code: "forbidden" });
  } finally {
    close();
  }
});

Deno.test("hub cluster: a control number skipped makes the hub resync at once", async () => {
  const { hubA, hubB, busB, close } = await twoHubs({ accessTtlMs: 60_000 });
  try {
    const owner = new FakeConnection({ id: "u_owner", name: "Owner" }, "admin");
    await hubA.connect(owner);
    await hubA.join(owner, "a");
    const b = await on(hubB, bob);
    await hubB.send(b, "a", "before", "nonce-before");
    let dropped = 0;
    busB.drop = (envelope) => envelope.control !== undefined && dropped++ === 0;
    await hubA.kick(owner, "a", bob.id); // its access and remove controls: the first is lost
    await tick();
    await tick();
    await hubB.settled();
    assert.equal(hubB.isJoined(b, "a"), false, "the kick reached B");
    await assert.rejects(hubB.send(b, "a", "after", "nonce-after1"), { code: "not_joined" });
  } finally {
    close();
  }
});

Deno.test("hub cluster: the last control lost is noticed from the sender's next tick", async () => {
  const { hubA, hubB, busB, close } = await twoHubs({ accessTtlMs: 60_000, controlTickMs: 50 });
  try {
    const owner = new FakeConnection({ id: "u_owner", name: "Owner" }, "admin");
    await hubA.connect(owner);
    await hubA.join(owner, "a");
    const b = await on(hubB, bob);
    await hubA.setRole(owner, "a", bob.id, "moderator"); // B has heard A's numbers
    await tick();
    busB.drop = (envelope) => envelope.control?.type === "remove";
    await hubA.kick(owner, "a", bob.id);
    await tick();
    assert.equal(hubB.isJoined(b, "a"), true, "the remove was lost");
    busB.drop = () => false;
    await new Promise((r) => setTimeout(r, 120));
    await hubB.settled();
    assert.equal(hubB.isJoined(b, "a"), false, "B resynced from A's tick");
  } finally {
    close();
  }
});

Deno.test("hub cluster: entries reordered or lost on the bus still arrive in seq order", async () => {
  const { hubA, hubB, busB, close } = await twoHubs({ gapWaitMs: 20 });
  try {
    const a = await on(hubA, ada);
    const b = await on(hubB, bob);
    b.clear();
    // Hold back seq 1 and 2, drop 4: B must deliver 1..5 in order anyway.
    busB.hold = (envelope) => envelope.seq === 1 || envelope.seq === 2;
    busB.drop = (envelope) => envelope.seq === 4;
    for (let i = 1; i <= 5; i++) await hubA.send(a, "a", `m${i}`, `nonce-000${i}`);
    await tick();
    assert.equal(b.pushes("message").length, 0, "nothing past the gap before it is filled");
    busB.hold = () => false;
    busB.release();
    await new Promise((r) => setTimeout(r, 100)); // the gap at 4 is read from the store
    assert.deepEqual(b.pushes("message").map((m) => m.message.seq), [1, 2, 3, 4, 5]);
  } finally {
    close();
  }
});

Deno.test("hub cluster: both hubs appending to one room deliver one gapless order to each", async () => {
  const { hubA, hubB, close } = await twoHubs({ gapWaitMs: 20 });
  try {
    const a = await on(hubA, ada);
    const b = await on(hubB, bob);
    a.clear();
    b.clear();
    await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) =>
          i % 2
            ? hubA.send(a, "a", `a${i}`, `nonce-a-${i}`)
            : hubB.send(b, "a", `b${i}`, `nonce-b-${i}`),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (const conn of [a, b]) {
      assert.deepEqual(
        conn.pushes("message").map((m) => m.message.seq),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
    }
  } finally {
    close();
  }
});
