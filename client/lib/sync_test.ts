import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Member, Message, RoomInfo } from "../../protocol/messages.ts";
import {
  addPending,
  atBottom,
  currentRoom,
  identity,
  markDisconnected,
  pageVisible,
  roomView,
  setTyping,
} from "./state.ts";
import { type Requester, RoomSync } from "./sync.ts";

const me: Member = { id: "u1", name: "Ada" };
const bob: Member = { id: "u2", name: "Bob" };

function entry(room: string, seq: number, author = bob, extra: Partial<Message> = {}): Message {
  return {
    id: `${room}-${seq}`,
    room,
    seq,
    kind: "text",
    author,
    text: `t${seq}`,
    ts: seq,
    ...extra,
  };
}

/** A scripted server holding each room's stream; it answers as the protocol describes. */
class FakeServer {
  epoch = "e1";
  recoveryMax = 1000;
  readonly streams = new Map<string, Message[]>();
  readonly calls: { type: string; body: Record<string, unknown> }[] = [];
  /** While set, `room.join` replies wait for it, so pushes can overtake them. */
  hold: PromiseWithResolvers<void> | null = null;

  /** Commit entries 1..`to` (or up to it) by Bob; returns the new ones. */
  fill(room: string, to: number): Message[] {
    const stream = this.streams.get(room) ?? [];
    this.streams.set(room, stream);
    const added: Message[] = [];
    for (let seq = stream.length + 1; seq <= to; seq++) added.push(entry(room, seq));
    stream.push(...added);
    return added;
  }

  info(room: string): RoomInfo {
    const lastSeq = this.streams.get(room)?.length ?? 0;
    return {
      name: room,
      kind: "public",
      title: "",
      topic: "",
      createdAt: 0,
      createdBy: "u9",
      lastSeq,
      online: 1,
      receipts: false,
    };
  }

  readonly request = ((type: string, body: Record<string, unknown>) => {
    this.calls.push({ type, body });
    return this.#answer(type, body);
  }) as Requester;

  async #answer(type: string, body: Record<string, unknown>): Promise<unknown> {
    const room = body.room as string;
    const all = this.streams.get(room) ?? [];
    if (type === "room.join") {
      await this.hold?.promise;
      const after = body.after as number | undefined;
      const base = { room: this.info(room), presence: [] };
      if (
        after !== undefined && body.epoch === this.epoch && all.length - after <= this.recoveryMax
      ) {
        return { ...base, messages: all.slice(after), hasMore: false, recovered: true };
      }
      const page = all.slice(-50);
      const recovered = after === undefined ? {} : { recovered: false };
      return { ...base, messages: page, hasMore: all.length > page.length, ...recovered };
    }
    if (type === "history") {
      const limit = body.limit as number;
      if (body.after !== undefined) {
        const rest = all.filter((m) => m.seq > (body.after as number));
        return { messages: rest.slice(0, limit), hasMore: rest.length > limit };
      }
      const older = all.filter((m) => m.seq < (body.before as number));
      return { messages: older.slice(-limit), hasMore: older.length > limit };
    }
    if (type === "read") return { seq: body.seq };
    throw new Error(`unexpected ${type}`);
  }

  count(type: string): number {
    return this.calls.filter((c) => c.type === type).length;
  }
}

const seqs = (room: string) => roomView(room).messages.value.map((m) => m.seq);
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a join merges the pushes that overtook its reply, each entry once", async () => {
  const server = new FakeServer();
  const sync = new RoomSync(server.request);
  sync.hello("e1");
  server.fill("a", 3);
  server.hold = Promise.withResolvers();
  const joined = sync.join("a");
  sync.receive(entry("a", 3));
  sync.receive(server.fill("a", 4)[0]!);
  server.hold.resolve();
  await joined;
  deepStrictEqual(seqs("a"), [1, 2, 3, 4]);
  strictEqual(roomView("a").seenSeq.value, 4);
  strictEqual(server.count("history"), 0);
});

Deno.test("a rejoin recovers what was missed, or jumps to the latest page and marks it", async () => {
  const server = new FakeServer();
  const sync = new RoomSync(server.request);
  sync.hello("e1");
  server.fill("b", 5);
  await sync.join("b");
  const view = roomView("b");
  addPending("b", { nonce: "nonce-0001", text: "offline", ts: 0, error: null });

  markDisconnected();
  server.fill("b", 7);
  await sync.join("b");
  deepStrictEqual(server.calls.at(-1)?.body, { room: "b", after: 5, epoch: "e1" });
  deepStrictEqual(seqs("b"), range(1, 7));
  strictEqual(view.gapAt.value, null);

  markDisconnected();
  server.recoveryMax = 10;
  server.fill("b", 200);
  await sync.join("b");
  deepStrictEqual(seqs("b"), range(151, 200));
  deepStrictEqual([view.gapAt.value, view.hasMore.value, view.seenSeq.value], [151, true, 200]);
  strictEqual(view.pending.value.length, 1, "pending messages survive the jump");

  // Paging back fills in above the jump and leaves the contiguous seq alone.
  await sync.loadEarlier("b");
  deepStrictEqual(seqs("b"), range(51, 200));
  deepStrictEqual(server.calls.at(-1)?.body, { room: "b", before: 151, limit: 100 });
  deepStrictEqual([view.gapAt.value, view.seenSeq.value], [151, 200]);

  // Not recovered, but the latest page reaches back over what was held: the marker goes
  // where the entries missed begin.
  markDisconnected();
  server.fill("b", 220);
  await sync.join("b");
  deepStrictEqual([seqs("b")[0], view.gapAt.value, view.seenSeq.value], [171, 201, 220]);
});

Deno.test("a new epoch forgets every room and marks the jump", async () => {
  const server = new FakeServer();
  const sync = new RoomSync(server.request);
  sync.hello("e1");
  server.fill("c", 5);
  await sync.join("c");
  markDisconnected();
  server.epoch = "e2";
  server.streams.set("c", []);
  server.fill("c", 2);
  sync.hello("e2");
  deepStrictEqual(seqs("c"), []);
  await sync.join("c");
  deepStrictEqual(server.calls.at(-1)?.body, { room: "c" });
  deepStrictEqual(seqs("c"), [1, 2]);
  strictEqual(roomView("c").gapAt.value, 1);
});

Deno.test("a hole in live entries is filled from history, unless the entry turns up soon", async () => {
  const server = new FakeServer();
  const sync = new RoomSync(server.request, { reorderMs: 20 });
  sync.hello("e1");
  server.fill("d", 3);
  await sync.join("d");
  const [four, five] = server.fill("d", 5);
  sync.receive(five!);
  await sleep(5);
  sync.receive(four!);
  await sleep(40);
  strictEqual(server.count("history"), 0, "a short reorder is tolerated");

  const added = server.fill("d", 250);
  sync.receive(added.at(-1)!);
  await sleep(60);
  deepStrictEqual(seqs("d"), range(1, 250));
  strictEqual(roomView("d").seenSeq.value, 250);
  deepStrictEqual(
    server.calls.filter((c) => c.type === "history").map((c) => c.body.after),
    [5, 105, 205],
  );
});

Deno.test("unread counts others' messages in rooms not watched; reading lowers it", async () => {
  const server = new FakeServer();
  const sync = new RoomSync(server.request, { readDelayMs: 10 });
  sync.hello("e1");
  identity.value = me;
  currentRoom.value = "e";
  pageVisible.value = true;
  atBottom.value = true;
  await sync.join("e");
  await sync.join("f");
  const f = roomView("f");

  sync.receive(server.fill("e", 1)[0]!);
  sync.receive(server.fill("f", 1)[0]!);
  sync.receive(server.fill("f", 2)[0]!);
  sync.receive(entry("f", 2)); // a duplicate push
  sync.receive(entry("f", 3, me));
  sync.receive({ ...entry("f", 4), kind: "edit", target: 1, text: "edited" });
  deepStrictEqual([roomView("e").unread.value, f.unread.value], [0, 2]);
  strictEqual(f.messages.value[0]?.text, "edited");

  sync.markRead("f", 1); // another device read up to 1
  strictEqual(f.unread.value, 1);

  // Watching "e": its marker moves to the newest entry, once.
  sync.scheduleRead("e");
  sync.scheduleRead("e");
  await sleep(30);
  deepStrictEqual(server.calls.filter((c) => c.type === "read").map((c) => c.body), [
    { room: "e", seq: 1 },
  ]);
  strictEqual(roomView("e").readSeq.value, 1);

  // Not at the bottom: nothing is read.
  atBottom.value = false;
  sync.receive(server.fill("e", 2).at(-1)!);
  sync.scheduleRead("e");
  await sleep(30);
  strictEqual(server.count("read"), 1);
  strictEqual(roomView("e").unread.value, 1);
  identity.value = null;
  currentRoom.value = null;
  atBottom.value = true;
});

Deno.test("typing ends when the typist's message arrives", async () => {
  const server = new FakeServer();
  const sync = new RoomSync(server.request);
  await sync.join("g");
  setTyping("g", bob, true);
  sync.receive(server.fill("g", 1)[0]!);
  deepStrictEqual(roomView("g").typing.value, []);
});
