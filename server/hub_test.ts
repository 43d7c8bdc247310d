import assert from "node:assert/strict";
import { FakeConnection, tick } from "../tests/fakes.ts";
import { LocalBroker } from "./bus/local.ts";
import { Hub } from "./hub.ts";
import { MemoryStore } from "./store/memory.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };
const cy = { id: "u_cy", name: "Cy" };

async function setup(now = () => Date.now()) {
  const store = new MemoryStore({ now });
  await store.createRoom({ name: "a", topic: "", createdBy: "t" });
  await store.createRoom({ name: "b", topic: "", createdBy: "t" });
  const hub = new Hub({ store, bus: new LocalBroker().connect(), now });
  const conns = [new FakeConnection(ada), new FakeConnection(bob), new FakeConnection(cy)];
  for (const c of conns) hub.connect(c);
  return { hub, store, conns };
}

Deno.test("hub: messages fan out inside their room only, serialized once", async () => {
  const { hub, conns: [a, b, c] } = await setup();
  await hub.join(a!, "a");
  await hub.join(b!, "a");
  await hub.join(c!, "b");
  for (const x of [a!, b!, c!]) x.clear();
  const { message } = await hub.send(a!, "a", "hello a", "nonce-0001");
  assert.equal(message.seq, 1);
  assert.deepEqual(a!.pushes("message").map((f) => f.message.text), ["hello a"]);
  assert.deepEqual(b!.pushes("message").map((f) => f.message.text), ["hello a"]);
  assert.equal(c!.pushes("message").length, 0);
  // One serialization: every recipient got the identical string instance's contents.
  assert.equal(a!.sent[0], b!.sent[0]);
});

Deno.test("hub: a repeated nonce returns the original and is not broadcast again", async () => {
  const { hub, conns: [a, b] } = await setup();
  await hub.join(a!, "a");
  await hub.join(b!, "a");
  const first = await hub.send(a!, "a", "once", "nonce-same");
  b!.clear();
  const again = await hub.send(a!, "a", "once", "nonce-same");
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.message, first.message);
  assert.equal(b!.pushes("message").length, 0);
});

Deno.test("hub: sending or typing without joining is refused with not_joined", async () => {
  const { hub, conns: [a] } = await setup();
  await assert.rejects(hub.send(a!, "a", "x", "nonce-0001"), { code: "not_joined" });
  assert.throws(() => hub.typing(a!, "a", true), { code: "not_joined" });
  await assert.rejects(hub.join(a!, "nope"), { code: "room_not_found" });
  assert.throws(() => hub.leave(a!, "a"), { code: "not_joined" });
});

Deno.test("hub: presence snapshot on join, then join and leave diffs, merged per user", async () => {
  const { hub, conns: [a, b] } = await setup();
  const join = await hub.join(a!, "a");
  assert.deepEqual(join.presence, [ada]);
  a!.clear();
  const bJoin = await hub.join(b!, "a");
  assert.deepEqual(bJoin.presence.map((m) => m.id).sort(), [ada.id, bob.id]);
  assert.deepEqual(a!.pushes("presence"), [{
    type: "presence",
    room: "a",
    joins: [bob],
    leaves: [],
  }]);
  assert.equal(b!.pushes("presence").length, 0, "the newcomer learns of itself from the snapshot");

  // A second device of Bob's is not a new join, and its leaving is not a leave.
  const bob2 = new FakeConnection(bob);
  hub.connect(bob2);
  a!.clear();
  await hub.join(bob2, "a");
  hub.disconnect(bob2);
  assert.equal(a!.pushes("presence").length, 0);

  hub.leave(b!, "a");
  assert.deepEqual(a!.pushes("presence"), [{
    type: "presence",
    room: "a",
    joins: [],
    leaves: [bob],
  }]);
  assert.equal(hub.roomInfo((await hub.store.getRoom("a"))!).online, 1);
});

Deno.test("hub: disconnect leaves every room and forgets the connection", async () => {
  const { hub, conns: [a, b] } = await setup();
  await hub.join(a!, "a");
  await hub.join(a!, "b");
  await hub.join(b!, "a");
  await hub.join(b!, "b");
  b!.clear();
  hub.disconnect(a!);
  assert.deepEqual(b!.pushes("presence").map((p) => [p.room, p.leaves[0]?.id]), [
    ["a", ada.id],
    ["b", ada.id],
  ]);
  assert.equal(hub.isJoined(a!, "a"), false);
  a!.clear();
  b!.clear();
  await hub.send(b!, "a", "anyone?", "nonce-0001");
  assert.equal(a!.sent.length, 0);
  assert.equal(hub.stats().connections, 2);
  hub.disconnect(b!);
  assert.equal(hub.stats().activeRooms, 0);
});

Deno.test("hub: typing goes to others only, is throttled, and stops on send", async () => {
  let now = 1_000_000;
  const { hub, conns: [a, b] } = await setup(() => now);
  await hub.join(a!, "a");
  await hub.join(b!, "a");
  b!.clear();
  a!.clear();
  hub.typing(a!, "a", true);
  hub.typing(a!, "a", true); // within the throttle window: not rebroadcast
  assert.equal(b!.pushes("typing").length, 1);
  assert.equal(a!.pushes("typing").length, 0);
  now += 3000; // past the throttle: refreshed
  hub.typing(a!, "a", true);
  assert.equal(b!.pushes("typing").length, 2);
  await hub.send(a!, "a", "done typing", "nonce-0001");
  hub.typing(a!, "a", false); // already cleared by the send: nothing to say
  assert.equal(b!.pushes("typing").length, 2);
});

Deno.test("hub: two hubs on one bus share room broadcasts and drop their own echo", async () => {
  const broker = new LocalBroker();
  const store = new MemoryStore();
  await store.createRoom({ name: "a", topic: "", createdBy: "t" });
  const hub1 = new Hub({ store, bus: broker.connect("one") });
  const hub2 = new Hub({ store, bus: broker.connect("two") });
  const a = new FakeConnection(ada);
  const b = new FakeConnection(bob);
  hub1.connect(a);
  hub2.connect(b);
  await hub1.join(a, "a");
  await hub2.join(b, "a");
  a.clear();
  b.clear();
  await hub1.send(a, "a", "across", "nonce-0001");
  await tick();
  assert.deepEqual(b.pushes("message").map((m) => m.message.text), ["across"]);
  assert.equal(a.pushes("message").length, 1, "no echo back to the origin hub");
  await hub1.createRoom(a, "c", "new");
  await tick();
  assert.deepEqual(b.pushes("room").map((r) => r.room.name), ["c"]);
});
