/**
 * Property-based tests of the session state machine: two users (each a Session over a
 * FakeConnection, one Hub, a MemoryStore and a LocalBroker) send random sequences of
 * frames, valid and not, and every answer is checked against a small model of what each
 * request may answer.
 *
 * - "model": one frame at a time; the model predicts each reply exactly (its code, the seq
 *   a send gets, the page a join or history returns) and which pushes each socket gets.
 * - "pipelined": bursts of frames without waiting; weaker checks that hold under any
 *   interleaving (one reply per id, codes a request of that type may get, seq increasing).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeClientFrame } from "../protocol/codec.ts";
import { decodeServerData } from "../protocol/frames.ts";
import { CLOSE_CODES, type ErrorCode } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type { Message, ServerFrame } from "../protocol/messages.ts";
import { ServerFrame as ServerSchema } from "../protocol/schema.ts";
import { LocalBroker } from "../server/bus/local.ts";
import { Hub } from "../server/hub.ts";
import { createLogger } from "../server/log.ts";
import { Session } from "../server/session.ts";
import { MemoryStore } from "../server/store/memory.ts";
import { FakeConnection } from "./fakes.ts";
import { check } from "./fuzz_support.ts";
import { frameLike, jsonishText, mutatedFrame } from "./fuzz_frames.ts";

const FRAME_BYTES = 2048;
const ROOMS = ["general", "other"];
const NO_ROOM = "nowhere";
const USERS = [{ id: "u_ada", name: "Ada" }, { id: "u_bob", name: "Bob" }];
/** Our request ids start here, so random invalid frames (ids below) cannot collide. */
const ID_BASE = 2_000_000_000;

// ---- actions --------------------------------------------------------------------------------

type Action =
  | { kind: "hello"; who: number; v: number[] }
  | { kind: "join"; who: number; room: string; limit?: number }
  | { kind: "leave"; who: number; room: string }
  | { kind: "send"; who: number; room: string; text: string; nonce: string }
  | { kind: "edit"; who: number; room: string; seq: number; text: string }
  | { kind: "delete"; who: number; room: string; seq: number }
  | { kind: "history"; who: number; room: string; before?: number; after?: number; limit?: number }
  | { kind: "read"; who: number; room: string; seq: number }
  | { kind: "typing"; who: number; room: string; active: boolean }
  | { kind: "ping"; who: number }
  | { kind: "invalid"; who: number; raw: string }
  | { kind: "oversize"; who: number }
  | { kind: "reconnect"; who: number };

const who = fc.integer({ min: 0, max: USERS.length - 1 });
const room = fc.constantFrom(...ROOMS, ...ROOMS, NO_ROOM);
const smallSeq = fc.integer({ min: 0, max: 30 });
const limit = fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined });
const words = fc.constantFrom("hi", "hello there", " padded ", "ж😀", "x".repeat(50));
/** A few nonces per user, so resends (duplicates) happen often. */
const nonceOf = fc.integer({ min: 0, max: 5 }).map((n) => `nonce-${n}-0000`);
const invalidRaw = fc.oneof(jsonishText, mutatedFrame, frameLike.map((f) => JSON.stringify(f)))
  .filter((raw) => {
    const decoded = decodeClientFrame(raw, FRAME_BYTES);
    return !decoded.ok && decoded.code !== "frame_too_large";
  });
const strip = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("hello" as const),
      who,
      v: fc.constant<number[]>([1]),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("hello" as const),
      who,
      v: fc.constant<number[]>([7]),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("join" as const),
      who,
      room,
      limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
    }).map(strip),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("leave" as const), who, room }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("send" as const),
      who,
      room,
      text: words,
      nonce: nonceOf,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("edit" as const),
      who,
      room,
      seq: smallSeq,
      text: words,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("delete" as const), who, room, seq: smallSeq }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("history" as const),
      who,
      room,
      before: fc.option(smallSeq, { nil: undefined }),
      after: fc.option(smallSeq, { nil: undefined }),
      limit,
    }).map(strip),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("read" as const), who, room, seq: smallSeq }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("typing" as const), who, room, active: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("ping" as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("invalid" as const), who, raw: invalidRaw }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("oversize" as const), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reconnect" as const), who }) },
);

/** The frame an action sends, as text; its request id, if the server can read one. */
function encode(a: Action, id: number): { raw: string; id: number | null } {
  switch (a.kind) {
    case "invalid": {
      const decoded = decodeClientFrame(a.raw, FRAME_BYTES);
      return { raw: a.raw, id: decoded.ok ? decoded.frame.id : decoded.id };
    }
    case "oversize":
      return { raw: JSON.stringify({ type: "ping", id, pad: "x".repeat(FRAME_BYTES) }), id: null };
    case "reconnect":
      throw new Error("not a frame");
    default: {
      const { kind, who: _, ...body } = a;
      const type = kind === "join" ? "room.join" : kind === "leave" ? "room.leave" : kind;
      return { raw: JSON.stringify({ type, id, ...body }), id };
    }
  }
}

// ---- the system under test ------------------------------------------------------------------

type Reply = Extract<ServerFrame, { type: "reply" }>;

class World {
  readonly errors: unknown[] = [];
  readonly store = new MemoryStore();
  readonly hub = new Hub({
    store: this.store,
    bus: new LocalBroker().connect(),
    onError: (what, error) => this.errors.push([what, error]),
    budgets: {
      messages: { perSecond: 1e6, burst: 1e6 },
      roomCreates: { perSecond: 1e6, burst: 1e6 },
    },
  });
  conns: FakeConnection[] = [];
  sessions: Session[] = [];
  /** Every connection ever opened, for the push checks. */
  readonly all: FakeConnection[] = [];

  async init(): Promise<void> {
    for (const name of ROOMS) await this.store.createRoom({ name, topic: "", createdBy: "t" });
    for (let i = 0; i < USERS.length; i++) this.open(i);
  }

  open(i: number): void {
    const conn = new FakeConnection(USERS[i]!);
    const log = createLogger("silent");
    const errors = this.errors;
    const logger = { ...log, error: (msg: string, data?: unknown) => errors.push([msg, data]) };
    this.conns[i] = conn;
    this.all.push(conn);
    this.sessions[i] = new Session(conn, this.hub, {
      log: logger as typeof log,
      frameBytes: FRAME_BYTES,
      helloTimeoutMs: 600_000,
      rates: { frames: { perSecond: 1e6, burst: 1e6 } },
    });
  }

  reconnect(i: number): void {
    // The old socket goes as a dropped one does: closed, and the session told.
    this.conns[i]!.close(1006, "dropped");
    this.sessions[i]!.closed();
    this.open(i);
  }

  close(): void {
    for (const s of this.sessions) s.closed();
  }
}

function replies(conn: FakeConnection): Reply[] {
  return conn.frames().filter((f): f is Reply => f.type === "reply");
}

/** Wait (boundedly) until `done` holds, letting the hub's promises and timers run. */
async function until(done: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let spins = 0; !done(); spins++) {
    if (Date.now() > deadline) return false;
    await (spins < 20
      ? Promise.resolve()
      : spins < 200
      ? settle()
      : new Promise((r) => setTimeout(r, 1)));
  }
  return true;
}

/**
 * Let whatever a frame set off (pushes, the bus) run out: one macrotask, through a message
 * port, which (unlike nested timers) the runtime does not clamp to 4 ms.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** Checks that hold on any socket, whatever was sent: frames are valid, seqs only rise. */
function socketInvariants(conn: FakeConnection): void {
  const seen = new Map<string, number>();
  for (const frame of conn.frames()) {
    const valid = ServerSchema.safeParse(frame);
    assert.ok(valid.success, `an invalid server frame: ${JSON.stringify(frame).slice(0, 300)}`);
    if (frame.type === "reply" && "error" in frame) {
      assert.notEqual(frame.error.code, "internal", `internal error: ${frame.error.message}`);
    }
    if (frame.type !== "message") continue;
    const last = seen.get(frame.message.room) ?? 0;
    assert.ok(
      frame.message.seq > last,
      `${frame.message.room}: seq ${frame.message.seq} pushed after ${last}`,
    );
    seen.set(frame.message.room, frame.message.seq);
  }
}

// ---- the model ------------------------------------------------------------------------------

interface Entry {
  seq: number;
  kind: "text" | "edit" | "delete";
  author: string;
  text: string;
  nonce?: string;
  deleted?: boolean;
}

interface Actor {
  hello: boolean;
  closed: boolean;
  invalid: number;
  joined: Set<string>;
  /** room -> seqs this socket must have been pushed */
  pushes: Map<string, number[]>;
  markers: Map<string, number>;
}

class Model {
  readonly rooms = new Map<string, Entry[]>(ROOMS.map((r) => [r, []]));
  readonly nonces = new Map<string, number>();
  actors: Actor[] = USERS.map(() => Model.fresh());
  readonly markers = new Map<string, number>();

  static fresh(): Actor {
    return {
      hello: false,
      closed: false,
      invalid: 0,
      joined: new Set(),
      pushes: new Map(),
      markers: new Map(),
    };
  }

  commit(roomName: string, entry: Omit<Entry, "seq">): Entry {
    const entries = this.rooms.get(roomName)!;
    const full = { ...entry, seq: entries.length + 1 };
    entries.push(full);
    for (const actor of this.actors) {
      if (actor.closed || !actor.joined.has(roomName)) continue;
      let list = actor.pushes.get(roomName);
      if (!list) actor.pushes.set(roomName, list = []);
      list.push(full.seq);
    }
    return full;
  }

  /** The page the memory store returns: the spec of history paging. */
  page(roomName: string, q: { before?: number; after?: number; limit: number }) {
    const n = this.rooms.get(roomName)!.length;
    const end = Math.min(n + 1, q.before ?? Infinity);
    if (q.after !== undefined) {
      const from = Math.max(q.after + 1, 1);
      const to = Math.min(end, from + q.limit);
      return { seqs: range(from, Math.max(from, to)), hasMore: to < end };
    }
    const from = Math.max(1, end - q.limit);
    return { seqs: range(from, Math.max(from, end)), hasMore: from > 1 };
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

type Expected =
  | { none: true; push?: ErrorCode; close?: number }
  | { code: ErrorCode; close?: number }
  | { ok: (result: Record<string, unknown>) => void };

/** What the model says `a` must answer, applying its effects to the model. */
function expect(model: Model, a: Action, idCarried: number | null): Expected {
  const actor = model.actors[a.who]!;
  const invalid = (code: ErrorCode): Expected => {
    actor.invalid++;
    const close = actor.invalid > LIMITS.invalidFramesPerMinute
      ? CLOSE_CODES.policyViolation
      : undefined;
    if (close) closeActor(actor);
    return idCarried === null
      ? { none: true, push: code, ...(close ? { close } : {}) }
      : { code, ...(close ? { close } : {}) };
  };
  if (a.kind === "invalid") {
    const decoded = decodeClientFrame(a.raw, FRAME_BYTES);
    return invalid(decoded.ok ? "internal" : decoded.code);
  }
  if (a.kind === "oversize") {
    closeActor(actor);
    return { none: true, push: "frame_too_large", close: CLOSE_CODES.frameTooLarge };
  }
  if (a.kind === "hello") {
    if (actor.hello) return { code: "already_hello" };
    if (!a.v.includes(1)) {
      closeActor(actor);
      return { code: "unsupported_version", close: CLOSE_CODES.unsupportedVersion };
    }
    actor.hello = true;
    return { ok: (r) => assert.equal(r.v, 1) };
  }
  if (!actor.hello) return { code: "hello_required" };
  const user = USERS[a.who]!.id;
  switch (a.kind) {
    case "ping":
      return { ok: (r) => assert.equal(typeof r.ts, "number") };
    case "join": {
      if (a.room === NO_ROOM) return { code: "room_not_found" };
      actor.joined.add(a.room);
      const entries = model.rooms.get(a.room)!;
      const page = model.page(a.room, { limit: a.limit ?? LIMITS.historyPageDefault });
      const snapshot = entries.map((e) => ({ ...e }));
      return {
        ok: (r) => {
          checkPage(snapshot, page, r.messages as Message[], r.hasMore as boolean);
          assert.equal((r.room as { lastSeq: number }).lastSeq, entries.length);
        },
      };
    }
    case "leave":
      if (!actor.joined.delete(a.room)) return { code: "not_joined" };
      return { ok: () => {} };
    case "send": {
      if (!actor.joined.has(a.room)) return { code: "not_joined" };
      const key = `${a.room}\n${user}\n${a.nonce}`;
      const original = model.nonces.get(key);
      if (original !== undefined) {
        return {
          ok: (r) => {
            assert.equal(r.duplicate, true);
            assert.equal((r.message as Message).seq, original);
          },
        };
      }
      const entry = model.commit(a.room, {
        kind: "text",
        author: user,
        text: a.text,
        nonce: a.nonce,
      });
      model.nonces.set(key, entry.seq);
      return {
        ok: (r) => {
          assert.equal(r.duplicate, false);
          assert.equal((r.message as Message).seq, entry.seq, "the next seq of the room");
          assert.equal((r.message as Message).text, a.text);
        },
      };
    }
    case "edit":
    case "delete": {
      if (!actor.joined.has(a.room)) return { code: "not_joined" };
      const target = model.rooms.get(a.room)![a.seq - 1];
      if (!target || target.kind !== "text" || target.deleted) return { code: "message_not_found" };
      if (target.author !== user) return { code: "forbidden" };
      if (a.kind === "edit") target.text = a.text;
      else {
        target.text = "";
        target.deleted = true;
      }
      const entry = model.commit(a.room, {
        kind: a.kind,
        author: user,
        text: a.kind === "edit" ? a.text : "",
      });
      return {
        ok: (r) => {
          const message = r.message as Message;
          assert.equal(message.seq, entry.seq);
          assert.equal(message.target, a.seq);
        },
      };
    }
    case "history": {
      if (!actor.joined.has(a.room)) return { code: "not_joined" };
      const snapshot = model.rooms.get(a.room)!.map((e) => ({ ...e }));
      const page = model.page(a.room, { ...a, limit: a.limit ?? LIMITS.historyPageDefault });
      return {
        ok: (r) => checkPage(snapshot, page, r.messages as Message[], r.hasMore as boolean),
      };
    }
    case "read": {
      if (!actor.joined.has(a.room)) return { code: "not_joined" };
      const key = `${a.room}\n${user}`;
      const marker = Math.max(
        model.markers.get(key) ?? 0,
        Math.min(a.seq, model.rooms.get(a.room)!.length),
      );
      model.markers.set(key, marker);
      return { ok: (r) => assert.equal(r.seq, marker) };
    }
    case "typing":
      if (!actor.joined.has(a.room)) return { code: "not_joined" };
      return { ok: () => {} };
    case "reconnect":
      throw new Error("not a request");
  }
}

function closeActor(actor: Actor): void {
  actor.closed = true;
  actor.joined.clear();
}

function checkPage(
  entries: Entry[],
  page: { seqs: number[]; hasMore: boolean },
  messages: Message[],
  hasMore: boolean,
): void {
  assert.deepEqual(messages.map((m) => m.seq), page.seqs, "the page's seqs");
  assert.equal(hasMore, page.hasMore, "hasMore");
  for (const m of messages) {
    const e = entries[m.seq - 1]!;
    assert.equal(m.kind, e.kind);
    assert.equal(m.author.id, e.author);
    assert.equal(m.text, e.text, `seq ${m.seq}: text as it is now`);
    assert.equal(m.deleted === true, e.deleted === true, `seq ${m.seq}: deleted`);
  }
}

// ---- the properties -------------------------------------------------------------------------

/** Both users greeted and in #general: the usual start, so most steps reach the hub. */
const OPENING: Action[] = [
  { kind: "hello", who: 0, v: [1] },
  { kind: "hello", who: 1, v: [1] },
  { kind: "join", who: 0, room: "general" },
  { kind: "join", who: 1, room: "general" },
];

/** Up to `max` actions, most often after the usual opening. */
function script(max: number): fc.Arbitrary<Action[]> {
  return fc.tuple(
    fc.nat({ max: 3 }),
    fc.array(action, { minLength: 1, maxLength: max, size: "max" }),
  ).map(([opening, rest]) => opening === 0 ? rest : [...OPENING, ...rest]);
}

async function runModel(actions: Action[]): Promise<void> {
  const world = new World();
  const model = new Model();
  await world.init();
  let nextId = ID_BASE;
  const used = new Set<number>();
  try {
    for (const [step, a] of actions.entries()) {
      const where = `step ${step}: ${JSON.stringify(a).slice(0, 200)}`;
      if (a.kind === "reconnect") {
        world.reconnect(a.who);
        model.actors[a.who] = Model.fresh();
        continue;
      }
      const actor = model.actors[a.who]!;
      const conn = world.conns[a.who]!;
      const { raw, id } = encode(a, nextId++);
      if (id !== null && used.has(id)) continue; // a random frame reused an id: skip it
      if (id !== null) used.add(id);
      const before = conn.sent.length;
      const wasClosed = actor.closed;
      const expected = wasClosed ? { none: true as const } : expect(model, a, id);
      world.sessions[a.who]!.receive(raw);
      if ("none" in expected) await settle();
      else {
        const arrived = await until(() => replies(conn).some((r) => r.id === id));
        assert.ok(arrived, `${where}: no reply`);
        await settle();
      }
      const fresh = conn.sent.slice(before).flatMap(decodeServerData);
      const mine = fresh.filter((f): f is Reply => f.type === "reply");
      const errors = fresh.filter((f) => f.type === "error");
      if ("none" in expected) {
        assert.deepEqual(mine, [], `${where}: no reply expected`);
        if (expected.push) {
          assert.equal(errors.length, 1, `${where}: one error push`);
          assert.equal(errors[0]?.type === "error" && errors[0].error.code, expected.push, where);
        }
      } else {
        assert.equal(mine.length, 1, `${where}: exactly one reply`);
        const reply = mine[0]!;
        assert.equal(reply.id, id, where);
        if ("code" in expected) {
          assert.ok("error" in reply, `${where}: expected ${expected.code}, got ok`);
          assert.equal(reply.error.code, expected.code, `${where}: ${reply.error.message}`);
        } else {
          assert.ok("ok" in reply, `${where}: expected ok, got ${JSON.stringify(reply)}`);
          expected.ok(reply.ok as Record<string, unknown>);
        }
      }
      if (!wasClosed && "close" in expected && expected.close) {
        assert.equal(conn.closedWith?.code, expected.close, `${where}: closed with`);
      } else if (!actor.closed) assert.equal(conn.closedWith, null, `${where}: closed early`);
    }
    await settle();
    // Pushes: each open socket got exactly the entries committed while it was in the room.
    for (const [i, actor] of model.actors.entries()) {
      const conn = world.conns[i]!;
      for (const roomName of ROOMS) {
        const got = conn.pushes("message").filter((f) => f.message.room === roomName);
        assert.deepEqual(
          got.map((f) => f.message.seq),
          actor.pushes.get(roomName) ?? [],
          `${USERS[i]!.name}'s pushes in ${roomName}`,
        );
      }
    }
    for (const conn of world.all) socketInvariants(conn);
    assert.deepEqual(world.errors, [], "nothing logged as a failure");
  } finally {
    world.close();
  }
}

Deno.test("fuzz session: one frame at a time, every reply as the model says", async () => {
  await check(
    "session/model",
    fc.asyncProperty(script(40), runModel),
    { quick: 25, deep: 4_000 },
  );
});

/** What a request of each type may answer when frames race each other. */
const MAY_ANSWER: Record<string, ErrorCode[]> = {
  hello: ["already_hello", "unsupported_version"],
  "room.join": ["hello_required", "room_not_found"],
  "room.leave": ["hello_required", "not_joined"],
  send: ["hello_required", "not_joined"],
  edit: ["hello_required", "not_joined", "message_not_found", "forbidden"],
  delete: ["hello_required", "not_joined", "message_not_found", "forbidden"],
  history: ["hello_required", "not_joined"],
  read: ["hello_required", "not_joined"],
  typing: ["hello_required", "not_joined"],
  ping: ["hello_required"],
};

async function runPipelined(bursts: Action[][]): Promise<void> {
  const world = new World();
  await world.init();
  let nextId = ID_BASE;
  /** id -> [who, the type it was sent as, or null when invalid] */
  const sent = new Map<
    number,
    { who: number; conn: FakeConnection; type: string | null; afterHello: boolean }
  >();
  /** Sockets that were sent a hello the server accepts: later frames are past it. */
  const greeted = new Set<FakeConnection>();
  const acked = new Map<string, number>(); // room\nuser\nnonce -> seq
  try {
    for (const burst of bursts) {
      for (const a of burst) {
        if (a.kind === "reconnect") {
          world.reconnect(a.who);
          continue;
        }
        const { raw, id } = encode(a, nextId++);
        if (id !== null && sent.has(id)) continue;
        const conn = world.conns[a.who]!;
        if (id !== null && conn.closedWith === null) {
          const type = a.kind === "invalid" || a.kind === "oversize"
            ? null
            : (JSON.parse(raw) as { type: string }).type;
          sent.set(id, { who: a.who, conn, type, afterHello: greeted.has(conn) });
        }
        if (a.kind === "hello" && a.v.includes(1)) greeted.add(conn);
        world.sessions[a.who]!.receive(raw);
      }
      // Every request on a socket still open gets its reply; a closed one may have lost some.
      const pending = () =>
        [...sent].filter(([id, s]) =>
          s.conn.closedWith === null && !replies(s.conn).some((r) => r.id === id)
        );
      assert.ok(await until(() => pending().length === 0), `no reply to ${pending()[0]?.[0]}`);
    }
    await settle();
    for (const [id, s] of sent) {
      const got = replies(s.conn).filter((r) => r.id === id);
      assert.ok(got.length <= 1, `${got.length} replies to ${id}`);
      if (s.conn.closedWith === null) assert.equal(got.length, 1, `no reply to ${id}`);
      const reply = got[0];
      if (!reply || s.type === null) continue;
      if ("error" in reply) {
        const code = reply.error.code as ErrorCode;
        assert.ok(!(s.afterHello && code === "hello_required"), `${s.type} after hello: ${code}`);
        assert.ok(
          MAY_ANSWER[s.type]?.includes(code),
          `${s.type} answered ${reply.error.code}: ${reply.error.message}`,
        );
      } else if (s.type === "send") {
        const { message, duplicate } = reply.ok as { message: Message; duplicate: boolean };
        const key = `${message.room}\n${message.author.id}\n${message.nonce}`;
        if (duplicate || acked.has(key)) assert.equal(acked.get(key) ?? message.seq, message.seq);
        acked.set(key, message.seq);
      }
    }
    for (const conn of world.all) socketInvariants(conn);
    // The store: every room gapless, every acknowledged send in it exactly once, at its seq.
    for (const roomName of ROOMS) {
      const page = await world.store.history(roomName, { after: 0, limit: 10_000 });
      assert.deepEqual(page.messages.map((m) => m.seq), range(1, page.messages.length + 1));
      const texts = page.messages.filter((m) => m.kind === "text");
      const keys = texts.map((m) => `${roomName}\n${m.author.id}\n${m.nonce}`);
      assert.equal(new Set(keys).size, keys.length, `${roomName}: a nonce stored twice`);
      for (const m of texts) {
        const key = `${roomName}\n${m.author.id}\n${m.nonce}`;
        if (acked.has(key)) assert.equal(acked.get(key), m.seq);
      }
    }
    for (const [key, seq] of acked) {
      const [roomName] = key.split("\n");
      const page = await world.store.history(roomName!, { after: seq - 1, limit: 1 });
      assert.equal(page.messages[0]?.seq, seq, `acknowledged ${key} is not at its seq`);
    }
    assert.deepEqual(world.errors, [], "nothing logged as a failure");
  } finally {
    world.close();
  }
}

Deno.test("fuzz session: bursts of frames without waiting, under any interleaving", async () => {
  const bursts = fc.tuple(
    fc.boolean(),
    fc.array(fc.array(action, { minLength: 1, maxLength: 12, size: "max" }), {
      minLength: 1,
      maxLength: 5,
    }),
  ).map(([opening, rest]) => opening ? [OPENING, ...rest] : rest);
  await check("session/pipelined", fc.asyncProperty(bursts, runPipelined), {
    quick: 30,
    deep: 2_000,
  });
});
