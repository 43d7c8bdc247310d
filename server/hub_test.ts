import assert from "node:assert/strict";
import { FakeConnection, tick } from "../tests/fakes.ts";
import { AccessControl } from "./access.ts";
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
  for (const c of conns) await hub.connect(c);
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
  await assert.rejects(hub.leave(a!, "a"), { code: "not_joined" });
});

Deno.test("hub: presence snapshot on join, then join and leave diffs, merged per user", async () => {
  const { hub, conns: [a, b] } = await setup();
  const join = await hub.join(a!, "a");
  assert.deepEqual(join.presence, [ada]);
  await tick();
  a!.clear();
  const bJoin = await hub.join(b!, "a");
  assert.deepEqual(bJoin.presence.map((m) => m.id).sort(), [ada.id, bob.id]);
  await tick();
  assert.deepEqual(a!.pushes("presence"), [{
    type: "presence",
    room: "a",
    joins: [bob],
    leaves: [],
  }]);

  // A second device of Bob's is not a new join, and its leaving is not a leave.
  const bob2 = new FakeConnection(bob);
  await hub.connect(bob2);
  a!.clear();
  await hub.join(bob2, "a");
  hub.disconnect(bob2);
  await tick();
  assert.equal(a!.pushes("presence").length, 0);

  await hub.leave(b!, "a");
  await tick();
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
  await tick();
  b!.clear();
  hub.disconnect(a!);
  await tick();
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
  await hub1.connect(a);
  await hub2.connect(b);
  await hub1.join(a, "a");
  await hub2.join(b, "a");
  a.clear();
  b.clear();
  await hub1.send(a, "a", "across", "nonce-0001");
  await tick();
  assert.deepEqual(b.pushes("message").map((m) => m.message.text), ["across"]);
  assert.equal(a.pushes("message").length, 1, "no echo back to the origin hub");
  await hub1.createRoom(a, { name: "c", topic: "new" });
  await tick();
  assert.deepEqual(b.pushes("room").map((r) => r.room.name), ["c"]);
});

Deno.test("hub: a recovering join replays exactly what was missed, then stays live", async () => {
  const { hub, conns: [a, b] } = await setup();
  await hub.join(a!, "a");
  for (let i = 1; i <= 5; i++) await hub.send(a!, "a", `m${i}`, `nonce-000${i}`);
  const join = await hub.join(b!, "a", { after: 2, epoch: hub.store.epoch });
  assert.equal(join.recovered, true);
  assert.deepEqual(join.messages.map((m) => m.seq), [3, 4, 5]);
  assert.equal(join.hasMore, true, "older entries exist before the replay");
  b!.clear();
  await hub.send(a!, "a", "live", "nonce-0006");
  assert.deepEqual(b!.pushes("message").map((m) => m.message.seq), [6]);
});

Deno.test("hub: recovery is refused plainly when it cannot be whole", async () => {
  const store = new MemoryStore();
  await store.createRoom({ name: "a", topic: "", createdBy: "t" });
  const hub = new Hub({ store, bus: new LocalBroker().connect(), recoveryMax: 3 });
  const a = new FakeConnection(ada);
  await hub.connect(a);
  await hub.join(a, "a");
  for (let i = 1; i <= 6; i++) await hub.send(a, "a", `m${i}`, `nonce-000${i}`);
  const cases: [string, { after: number; epoch?: string }][] = [
    ["too many missed", { after: 1 }],
    ["another epoch", { after: 5, epoch: "not-this-one" }],
    ["ahead of the store (restored data)", { after: 9 }],
  ];
  for (const [why, options] of cases) {
    const b = new FakeConnection(bob);
    await hub.connect(b);
    const join = await hub.join(b, "a", { ...options, limit: 2 });
    assert.equal(join.recovered, false, why);
    assert.deepEqual(join.messages.map((m) => m.seq), [5, 6], `${why}: the latest page instead`);
    hub.disconnect(b);
  }
  const c = new FakeConnection(cy);
  await hub.connect(c);
  assert.equal(
    (await hub.join(c, "a", { after: 3 })).recovered,
    true,
    "3 missed is within the cap",
  );
  // Retention removed part of what was missed.
  await store.prune("a", { maxCount: 2 }, Date.now());
  const d = new FakeConnection({ id: "u_d", name: "D" });
  await hub.connect(d);
  assert.equal((await hub.join(d, "a", { after: 3 })).recovered, false);
});

Deno.test("hub: authors edit and delete their own; the room's owner deletes anyone's", async () => {
  const store = new MemoryStore();
  const hub = new Hub({ store, bus: new LocalBroker().connect() });
  const [a, b] = [new FakeConnection(ada), new FakeConnection(bob)];
  await hub.connect(a);
  await hub.createRoom(a, { name: "a", topic: "" });
  for (const c of [a, b]) {
    await hub.connect(c);
    await hub.join(c, "a");
  }
  await hub.send(b, "a", "bob's", "nonce-0001");
  await hub.send(a, "a", "ada's", "nonce-0002");
  await assert.rejects(hub.edit(a, "a", 1, "mine now"), { code: "forbidden" });
  await assert.rejects(hub.delete(b, "a", 2), { code: "forbidden" });
  a.clear();
  const edit = await hub.edit(b, "a", 1, "bob's, edited");
  assert.deepEqual([edit.message.kind, edit.message.target], ["edit", 1]);
  assert.deepEqual(
    a.pushes("message").map((m) => m.message.kind),
    ["edit"],
    "edits reach live clients",
  );
  const del = await hub.delete(a, "a", 1);
  assert.equal(del.message.kind, "delete");
  await assert.rejects(hub.edit(b, "a", 1, "too late"), { code: "message_not_found" });
  const page = await hub.history(a, "a", { limit: 10 });
  assert.deepEqual(page.messages.map((m) => [m.seq, m.kind, m.deleted ?? false]), [
    [1, "text", true],
    [2, "text", false],
    [3, "edit", false],
    [4, "delete", false],
  ]);
});

Deno.test("hub: read markers reach the user's other devices and, with receipts on, the room", async () => {
  const store = new MemoryStore();
  await store.createRoom({ name: "a", topic: "", createdBy: ada.id, receipts: true });
  await store.createRoom({ name: "quiet", topic: "", createdBy: ada.id });
  const hub = new Hub({ store, bus: new LocalBroker().connect() });
  const [phone, laptop, b] = [
    new FakeConnection(ada),
    new FakeConnection(ada),
    new FakeConnection(bob),
  ];
  for (const c of [phone, laptop, b]) {
    await hub.connect(c);
    await hub.join(c, "a");
    await hub.join(c, "quiet");
  }
  for (let i = 1; i <= 3; i++) await hub.send(b, "a", `m${i}`, `nonce-000${i}`);
  await hub.send(b, "quiet", "psst", "nonce-0009");
  const rooms = await hub.listRooms({ user: ada, role: "user", via: "session" });
  assert.deepEqual(rooms.map((r) => [r.name, r.member, r.unread]), [["a", true, 3], [
    "quiet",
    true,
    1,
  ]]);
  for (const c of [phone, laptop, b]) c.clear();
  assert.deepEqual(await hub.read(phone, "a", 2), { seq: 2 });
  assert.deepEqual(laptop.pushes("read"), [{ type: "read", room: "a", seq: 2 }]);
  assert.equal(phone.pushes("read").length, 0, "not echoed to the device that read");
  assert.deepEqual(b.pushes("receipt").map((r) => [r.user.id, r.seq]), [[ada.id, 2]]);
  await hub.read(phone, "a", 1); // behind the marker: nothing to tell
  await hub.read(phone, "quiet", 1);
  assert.equal(
    b.pushes("receipt").length,
    1,
    "no receipts for rooms without them, or for going back",
  );
  assert.equal(
    (await hub.listRooms({ user: ada, role: "user", via: "session" })).find((r) => r.name === "a")
      ?.unread,
    1,
  );
  const c = new FakeConnection(cy);
  await hub.connect(c);
  assert.deepEqual((await hub.join(c, "a")).receipts?.map((r) => [r.user.name, r.seq]), [[
    "Ada",
    2,
  ]]);
});

Deno.test("hub: only moderators change a room's settings; retention sweeps old entries", async () => {
  const store = new MemoryStore();
  const hub = new Hub({ store, bus: new LocalBroker().connect(), retention: { maxCount: 3 } });
  const [a, b] = [new FakeConnection(ada), new FakeConnection(bob)];
  await hub.connect(a);
  await hub.createRoom(a, { name: "a", topic: "" });
  for (const c of [a, b]) {
    await hub.connect(c);
    await hub.join(c, "a");
  }
  await assert.rejects(hub.updateRoom(b, "a", { topic: "hijack" }), { code: "forbidden" });
  b.clear();
  const { room } = await hub.updateRoom(a, "a", { topic: "New topic", receipts: true });
  assert.deepEqual([room.topic, room.receipts], ["New topic", true]);
  assert.deepEqual(b.pushes("room").map((r) => r.room.topic), ["New topic"]);
  for (let i = 1; i <= 5; i++) await hub.send(a, "a", `m${i}`, `nonce-000${i}`);
  assert.equal(await hub.sweep(), 2, "the server-wide count applies");
  await hub.updateRoom(a, "a", { retention: { maxCount: 1 } });
  assert.equal(await hub.sweep(), 2, "the room's own limit wins");
  assert.deepEqual((await hub.history(a, "a", { limit: 10 })).messages.map((m) => m.seq), [5]);
});

Deno.test("hub: membership is kept across connections; leaving ends it", async () => {
  const { hub, conns: [a] } = await setup();
  await hub.join(a!, "a");
  await hub.join(a!, "b");
  hub.disconnect(a!);
  assert.deepEqual(await hub.store.roomsOf(ada.id), ["a", "b"]);
  const again = new FakeConnection(ada);
  await hub.connect(again);
  await hub.join(again, "b");
  const phone = new FakeConnection(ada);
  await hub.connect(phone);
  await hub.join(phone, "b");
  await hub.leave(again, "b");
  assert.deepEqual(await hub.store.roomsOf(ada.id), ["a"]);
  // Her other device leaves the room with her, and hears why.
  assert.equal(hub.isJoined(phone, "b"), false);
  assert.deepEqual(phone.pushes("room.removed"), [{
    type: "room.removed",
    room: "b",
    reason: "left",
  }]);
});

Deno.test("hub: a kick and a ban on one instance act on the target's sockets on another", async () => {
  const store = new MemoryStore();
  const broker = new LocalBroker();
  const one = new Hub({ store, bus: broker.connect() });
  const two = new Hub({ store, bus: broker.connect() });
  const owner = new FakeConnection(ada);
  const target = new FakeConnection(bob);
  const otherDevice = new FakeConnection(bob);
  await one.connect(owner);
  await two.connect(target);
  await one.connect(otherDevice);
  await one.createRoom(owner, { name: "club", topic: "" });
  await one.join(owner, "club");
  await two.join(target, "club");
  await one.kick(owner, "club", bob.id);
  await tick();
  assert.deepEqual(target.pushes("room.removed"), [{
    type: "room.removed",
    room: "club",
    reason: "kicked",
  }]);
  assert.equal(two.isJoined(target, "club"), false);
  assert.equal(target.pushes("moderation")[0]?.event.action, "kick");
  assert.equal(otherDevice.pushes("room.removed").length, 1, "a device not in the room hears too");
  // Instance two cached the room's permissions; the ban must reach that cache too.
  await two.join(target, "club");
  await one.ban(owner, "club", bob.id, 5);
  await tick();
  assert.equal(two.isJoined(target, "club"), false);
  await assert.rejects(two.join(target, "club"), { code: "forbidden", permission: "room.join" });
});

Deno.test("modlog: actions of one millisecond list in the order they were taken", async () => {
  const access = new AccessControl(new MemoryStore(), () => 1_000);
  const actor = { id: "u_ada", name: "Ada" };
  const target = { id: "u_bob", name: "Bob" };
  const actions = ["mute", "unmute", "kick", "ban", "unban"] as const;
  for (const [i, action] of actions.entries()) {
    // Ids that sort against the order taken, so only the write order can put them right.
    await access.log({ id: `${9 - i}`, room: "r", action, actor, target, ts: 1_000 });
  }
  const { entries } = await access.modlog("r", undefined, 10);
  assert.deepEqual(entries.map((e) => e.action), [...actions].reverse());
});
