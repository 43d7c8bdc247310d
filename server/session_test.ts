import assert from "node:assert/strict";
import { CLOSE_CODES } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type { ServerFrame } from "../protocol/messages.ts";
import { FakeConnection, tick } from "../tests/fakes.ts";
import { LocalBroker } from "./bus/local.ts";
import { Hub, type HubOptions } from "./hub.ts";
import { Drain } from "./drain.ts";
import { createLogger } from "./log.ts";
import { Session, type SessionOptions } from "./session.ts";
import { MemoryStore } from "./store/memory.ts";

async function setup(options: Partial<SessionOptions> = {}, budgets?: HubOptions["budgets"]) {
  const store = new MemoryStore();
  await store.createRoom({ name: "general", topic: "", createdBy: "t" });
  const hub = new Hub({ store, bus: new LocalBroker().connect(), ...(budgets ? { budgets } : {}) });
  const conn = new FakeConnection({ id: "u_1", name: "Ada" });
  const session = new Session(conn, hub, { log: createLogger("silent"), ...options });
  const replies = () =>
    conn.frames().filter((f): f is Extract<ServerFrame, { type: "reply" }> => f.type === "reply");
  const send = async (frame: unknown) => {
    session.receive(typeof frame === "string" ? frame : JSON.stringify(frame));
    await tick();
  };
  return { hub, conn, session, replies, send };
}

Deno.test("session: requests before hello get hello_required; hello twice gets already_hello", async () => {
  const { session, replies, send } = await setup();
  await send({ type: "room.list", id: 1 });
  await send({ type: "hello", id: 2, v: [1] });
  await send({ type: "hello", id: 3, v: [1] });
  const [r1, r2, r3] = replies();
  assert.equal(r1 && "error" in r1 && r1.error.code, "hello_required");
  assert.ok(r2 && "ok" in r2);
  assert.equal(r3 && "error" in r3 && r3.error.code, "already_hello");
  session.closed();
});

Deno.test("session: an unsupported version is refused and the socket closed not to reconnect", async () => {
  const { conn, replies, send } = await setup();
  await send({ type: "hello", id: 1, v: [99] });
  const [reply] = replies();
  assert.equal(reply && "error" in reply && reply.error.code, "unsupported_version");
  assert.equal(conn.closedWith?.code, CLOSE_CODES.unsupportedVersion);
});

Deno.test("session: every request gets exactly one reply with its id", async () => {
  const { session, replies, send } = await setup();
  await send({ type: "hello", id: 10, v: [1] });
  await send({ type: "room.join", id: 11, room: "general" });
  await send({ type: "send", id: 12, room: "general", text: "hi", nonce: "nonce-0001" });
  await send({ type: "send", id: 13, room: "nowhere", text: "hi", nonce: "nonce-0002" });
  await send({ type: "ping", id: 14 });
  await send({ type: "nope", id: 15 });
  await send("{broken");
  await tick();
  assert.deepEqual(replies().map((r) => r.id), [10, 11, 12, 13, 14, 15]);
  const codes = replies().map((r) => ("error" in r ? r.error.code : "ok"));
  assert.deepEqual(codes, ["ok", "ok", "ok", "not_joined", "ok", "unknown_type"]);
  session.closed();
});

Deno.test("session: a flood of invalid frames closes the socket with a policy code", async () => {
  const { conn, send } = await setup();
  for (let i = 0; i <= LIMITS.invalidFramesPerMinute; i++) {
    assert.equal(conn.closedWith, null, `closed too early, at ${i}`);
    await send("not json");
  }
  assert.equal(conn.closedWith?.code, CLOSE_CODES.policyViolation);
  assert.equal(conn.pushes("error")[0]?.error.code, "bad_json");
});

Deno.test("session: a frame over the byte cap closes the socket with 1009", async () => {
  const { conn, send } = await setup();
  await send(JSON.stringify({ type: "ping", id: 1, pad: "x".repeat(LIMITS.frameBytes) }));
  assert.equal(conn.pushes("error")[0]?.error.code, "frame_too_large");
  assert.equal(conn.closedWith?.code, CLOSE_CODES.frameTooLarge);
});

Deno.test("session: sends beyond the message rate get rate_limited with a retry time", async () => {
  const { session, replies, send } = await setup(
    { rates: { frames: { perSecond: 1000, burst: 1000 } } },
    { messages: { perSecond: 1, burst: 3 } },
  );
  await send({ type: "hello", id: 1, v: [1] });
  await send({ type: "room.join", id: 2, room: "general" });
  for (let i = 0; i < 5; i++) {
    await send({
      type: "send",
      id: 10 + i,
      room: "general",
      text: `m${i}`,
      nonce: `nonce-000${i}`,
    });
  }
  const sends = replies().filter((r) => r.id >= 10);
  assert.deepEqual(sends.map((r) => ("error" in r ? r.error.code : "ok")), [
    "ok",
    "ok",
    "ok",
    "rate_limited",
    "rate_limited",
  ]);
  const limited = sends[3]!;
  assert.ok("error" in limited && limited.error.retryAfterMs! > 0);
  session.closed();
});

Deno.test("session: no hello within the timeout closes the socket", async () => {
  const { conn } = await setup({ helloTimeoutMs: 20 });
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(conn.closedWith?.code, CLOSE_CODES.helloTimeout);
});

Deno.test("session: a binary frame is an invalid frame", async () => {
  const { session, conn } = await setup();
  session.receive(new Uint8Array([1, 2, 3]).buffer);
  assert.equal(conn.pushes("error")[0]?.error.code, "invalid_frame");
  session.closed();
});

Deno.test("session: a drain answers every request taken, and reads nothing after it began", async () => {
  const drain = new Drain();
  const { session, replies, send } = await setup({ drain });
  await send({ type: "hello", id: 1, v: [1] });
  await send({ type: "room.join", id: 2, room: "general" });
  const frame = (id: number) =>
    JSON.stringify({ type: "send", id, room: "general", text: "hi", nonce: `nonce-000${id}` });
  session.receive(frame(3));
  assert.equal(session.inFlight, 1);
  const drained = drain.run(1000);
  session.receive(frame(4));
  const report = await drained;
  assert.deepEqual({ ...report, ms: 0 }, { answered: 1, unanswered: 0, ms: 0, timedOut: false });
  await tick();
  assert.deepEqual(replies().map((r) => [r.id, "ok" in r]), [[1, true], [2, true], [3, true]]);
  session.closed();
});

Deno.test("session: a drain stops at its deadline, counting what is still unanswered", async () => {
  const drain = new Drain();
  const never = new Promise<void>(() => {});
  drain.add({ inFlight: 2, drain: () => never, flushed: () => Promise.resolve() });
  const report = await drain.run(30);
  assert.equal(report.timedOut, true);
  assert.equal(report.unanswered, 2);
  assert.ok(drain.started);
});

Deno.test("session: tells the server's activity of its socket, its frames but heartbeats, and its waits", async () => {
  const told: string[] = [];
  const activity = {
    opened: () => told.push("opened"),
    busy: () => told.push("busy"),
    waiting: (pending: boolean) => told.push(pending ? "waiting" : "answered"),
  };
  const { session, send } = await setup({ activity });
  assert.deepEqual(told, ["opened"]);
  await send({ type: "hello", id: 1, v: [1] });
  await send({ type: "ping", id: 2 });
  session.receive(JSON.stringify({ type: "room.join", id: 3, room: "general" }));
  session.receive(JSON.stringify({ type: "room.list", id: 4 }));
  await tick();
  await tick();
  assert.deepEqual(told, [
    "opened",
    "busy",
    "waiting",
    "answered",
    "waiting",
    "answered",
    "busy",
    "waiting",
    "busy",
    "answered",
  ]);
  session.closed();
});
