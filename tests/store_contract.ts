/** The Store contract: one suite, run against every adapter. */
import assert from "node:assert/strict";
import { ProtocolError } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type { Member } from "../protocol/messages.ts";
import type { EntryDraft, Store } from "../server/store/types.ts";
import { featureContract } from "./store_contract_features.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };
const DAY = 24 * 60 * 60 * 1000;

export interface StoreFixture {
  store: Store;
  /** Another handle on the same data, as a second worker would have; absent for memory. */
  openShared?: () => Promise<Store>;
  /** Close and open the same data again, as a restart would. */
  reopen?: () => Promise<Store>;
  dispose?: () => Promise<void>;
}

/** What a case may need of a fixture beyond one store. */
export type Need = "openShared" | "reopen";

/** Registers one case of the contract (see storeContract). */
export type WithStore = (
  title: string,
  body: (
    store: Store,
    fixture: Required<Pick<StoreFixture, Need>> & StoreFixture,
  ) => Promise<void>,
  options?: { now?: () => number; needs?: Need[] },
) => void;

export function text(room: string, author: Member, body: string, nonce: string): EntryDraft {
  return { kind: "text", room, author, text: body, nonce };
}

/**
 * Register the contract's cases for one adapter. With `ignore` (the reason), every case is
 * registered as ignored and the reason printed: skipped, never passed.
 */
export function storeContract(
  name: string,
  open: (options: { now?: () => number }) => Promise<StoreFixture>,
  contract: { ignore?: string; lacks?: Partial<Record<Need, string>> } = {},
): void {
  if (contract.ignore) console.warn(`store contract (${name}) skipped: ${contract.ignore}`);
  const withStore: WithStore = (title, body, options = {}) => {
    // A case that cannot apply to this adapter is skipped with its reason, never passed.
    const lacking = (options.needs ?? []).map((need) => contract.lacks?.[need]).find(Boolean);
    const reason = contract.ignore ?? lacking;
    Deno.test({
      name: `store contract (${name}): ${title}${lacking ? ` (ignored: ${lacking})` : ""}`,
      ignore: reason !== undefined,
      fn: async () => {
        const fixture = await open(options);
        try {
          await body(fixture.store, fixture as Required<Pick<StoreFixture, Need>> & StoreFixture);
        } finally {
          await fixture.store.close();
          await fixture.dispose?.();
        }
      },
    });
  };

  withStore("rooms are created once, listed, read back and updated", async (store) => {
    const created = await store.createRoom({
      name: "r1",
      topic: "t",
      createdBy: ada.id,
      receipts: true,
    });
    assert.equal(created?.name, "r1");
    assert.equal(created?.lastSeq, 0);
    assert.equal(created?.receipts, true);
    assert.equal(await store.createRoom({ name: "r1", topic: "other", createdBy: bob.id }), null);
    assert.equal((await store.getRoom("r1"))?.topic, "t");
    assert.equal(await store.getRoom("missing"), null);
    assert.ok((await store.listRooms()).some((r) => r.name === "r1"));
    const updated = await store.updateRoom("r1", { topic: "new", retention: { maxCount: 5 } });
    assert.equal(updated?.topic, "new");
    assert.deepEqual(updated?.retention, { maxCount: 5 });
    assert.equal(updated?.createdBy, ada.id);
    const cleared = await store.updateRoom("r1", { retention: null });
    assert.equal(cleared?.retention, undefined);
    assert.equal(await store.updateRoom("missing", { topic: "x" }), null);
    assert.ok(store.epoch.length > 0);
  });

  withStore("seq is gapless and follows call order under concurrent appends", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    await store.createRoom({ name: "s", topic: "", createdBy: ada.id });
    const results = await Promise.all(
      Array.from(
        { length: 1200 },
        (_, i) => store.append(text(i % 3 ? "r" : "s", i % 2 ? ada : bob, `m${i}`, `nonce-${i}`)),
      ),
    );
    const inR = results.filter((r) => r.message.room === "r");
    assert.deepEqual(inR.map((r) => r.message.seq), inR.map((_, i) => i + 1));
    const inS = results.filter((r) => r.message.room === "s");
    assert.deepEqual(inS.map((r) => r.message.seq), inS.map((_, i) => i + 1));
    assert.equal((await store.getRoom("r"))?.lastSeq, inR.length);
    assert.equal(new Set(results.map((r) => r.message.id)).size, 1200);
    const page = await store.history("r", { after: 0, limit: 100 });
    assert.deepEqual(
      page.messages.map((m) => m.text),
      inR.slice(0, 100).map((r) => r.message.text),
    );
  });

  withStore(
    "a burst at every size limit commits whole: long names, full texts, edits",
    async (store) => {
      // Room names at their 32-character limit, a long author id, and texts at the limit
      // push a group commit against KV's mutation, check, key and byte caps at once.
      const rooms = Array.from({ length: 120 }, (_, i) => `room-${String(i).padStart(27, "0")}`);
      for (const name of rooms) await store.createRoom({ name, topic: "", createdBy: ada.id });
      const author = { id: `jwt:${"s".repeat(200)}`, name: "N".repeat(32) };
      const sends = Array.from({ length: 1440 }, (_, i) => {
        const body = i % 10 === 0 ? "ж".repeat(LIMITS.messageChars) : `short ${i}`;
        return store.append(text(rooms[i % rooms.length]!, author, body, `nonce-${i}`));
      });
      const edits = rooms.slice(0, 60).map((room) =>
        store.append({
          kind: "edit",
          room,
          author,
          target: 1,
          text: "x".repeat(LIMITS.messageChars),
        })
      );
      const results = await Promise.all([...sends, ...edits]);
      // Then short ones only, so that the mutation cap binds rather than the byte cap.
      results.push(
        ...await Promise.all(
          Array.from(
            { length: 1440 },
            (_, i) => store.append(text(rooms[i % rooms.length]!, author, `s${i}`, `short-${i}`)),
          ),
        ),
      );
      assert.equal(results.filter((r) => r.duplicate).length, 0);
      for (const room of rooms) {
        const last = (await store.getRoom(room))?.lastSeq;
        const expected = 2880 / rooms.length + (rooms.indexOf(room) < 60 ? 1 : 0);
        assert.equal(last, expected, `${room} got every entry`);
      }
      const first = (await store.history(rooms[0]!, { after: 0, limit: 1 })).messages[0];
      assert.equal(first?.text, "x".repeat(LIMITS.messageChars));
    },
  );

  withStore("a repeated nonce returns the original message and stores nothing", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const first = await store.append(text("r", ada, "hi", "nonce-1"));
    const again = await store.append(text("r", ada, "hi", "nonce-1"));
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.message, first.message);
    // Inside one batch, too.
    const [x, y] = await Promise.all([
      store.append(text("r", ada, "twice", "nonce-2")),
      store.append(text("r", ada, "twice", "nonce-2")),
    ]);
    assert.equal(x.duplicate, false);
    assert.equal(y.duplicate, true);
    assert.equal(y.message.seq, x.message.seq);
    // The same nonce from someone else is a different message.
    const other = await store.append(text("r", bob, "hi", "nonce-1"));
    assert.equal(other.duplicate, false);
    assert.equal(other.message.seq, 3);
    assert.equal((await store.history("r", { limit: 10 })).messages.length, 3);
  });

  withStore("an entry reads back as acknowledged, whatever its characters", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    // A lone surrogate and a NUL arrive as JSON escapes; an adapter may replace them, but
    // must not fail the batch they share, and must store what it acknowledged.
    const odd = { id: "u_odd\0", name: "Odd \ud800" };
    const results = await Promise.all([
      store.append(text("r", ada, "before", "n-1")),
      store.append(text("r", odd, "lone \ud83d and nul \0 end", "n-\udc00\0")),
      store.append(text("r", ada, "after", "n-3")),
    ]);
    assert.deepEqual(results.map((r) => r.message.seq), [1, 2, 3]);
    const page = await store.history("r", { after: 0, limit: 10 });
    assert.deepEqual(page.messages, results.map((r) => r.message));
    assert.deepEqual(page.messages.map((m) => m.text).filter((_, i) => i !== 1), [
      "before",
      "after",
    ]);
    const again = await store.append(text("r", odd, "lone \ud83d and nul \0 end", "n-\udc00\0"));
    assert.deepEqual([again.duplicate, again.message.seq], [true, 2]);
  });

  withStore("appending to an unknown room fails with room_not_found", async (store) => {
    await assert.rejects(store.append(text("nope", ada, "x", "nonce-1")), {
      code: "room_not_found",
    });
    await assert.rejects(store.history("nope", { limit: 1 }), { code: "room_not_found" });
  });

  withStore("history pages walk back with before and forward with after", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    for (let i = 1; i <= 25; i++) await store.append(text("r", ada, `m${i}`, `nonce-${i}`));
    const seqs = (p: { messages: { seq: number }[] }) => p.messages.map((m) => m.seq);
    const latest = await store.history("r", { limit: 10 });
    assert.deepEqual(seqs(latest), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    assert.equal(latest.hasMore, true);
    assert.deepEqual(seqs(await store.history("r", { before: 16, limit: 10 })), [
      6,
      7,
      8,
      9,
      10,
      11,
      12,
      13,
      14,
      15,
    ]);
    const oldest = await store.history("r", { before: 6, limit: 10 });
    assert.deepEqual(seqs(oldest), [1, 2, 3, 4, 5]);
    assert.equal(oldest.hasMore, false);
    const after = await store.history("r", { after: 20, limit: 3 });
    assert.deepEqual(seqs(after), [21, 22, 23]);
    assert.equal(after.hasMore, true);
    const tail = await store.history("r", { after: 23, limit: 10 });
    assert.deepEqual(seqs(tail), [24, 25]);
    assert.equal(tail.hasMore, false);
    assert.deepEqual(await store.history("r", { before: 1, limit: 10 }), {
      messages: [],
      hasMore: false,
    });
    assert.deepEqual(await store.history("r", { after: 25, limit: 10 }), {
      messages: [],
      hasMore: false,
    });
  });

  withStore("messages keep author, text, time and nonce", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const before = Date.now();
    const { message } = await store.append(text("r", ada, "ünïcode 👋", "nonce-x"));
    const [read] = (await store.history("r", { limit: 1 })).messages;
    assert.deepEqual(read, message);
    assert.equal(message.kind, "text");
    assert.deepEqual(message.author, ada);
    assert.equal(message.text, "ünïcode 👋");
    assert.equal(message.nonce, "nonce-x");
    assert.ok(message.ts >= before && message.ts <= Date.now());
  });

  withStore(
    "edits and deletes are entries of their own and rewrite their target",
    async (store) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      await store.append(text("r", ada, "frist", "nonce-1"));
      await store.append(text("r", bob, "second", "nonce-2"));
      const edit = await store.append({
        kind: "edit",
        room: "r",
        author: ada,
        target: 1,
        text: "first",
      });
      assert.deepEqual([
        edit.message.kind,
        edit.message.seq,
        edit.message.target,
        edit.message.text,
      ], ["edit", 3, 1, "first"]);
      const del = await store.append({ kind: "delete", room: "r", author: bob, target: 2 });
      assert.deepEqual([del.message.kind, del.message.seq, del.message.target], ["delete", 4, 2]);
      const page = await store.history("r", { limit: 10 });
      const [one, two] = page.messages;
      assert.equal(one?.text, "first");
      assert.ok(one?.editedAt);
      assert.equal(two?.deleted, true);
      assert.equal(two?.text, "");
      assert.deepEqual(page.messages.map((m) => m.kind), ["text", "text", "edit", "delete"]);
      // Deleted, missing, or not a text message: message_not_found; no seq is used up.
      for (const target of [2, 99, 3]) {
        await assert.rejects(
          store.append({ kind: "edit", room: "r", author: ada, target, text: "x" }),
          { code: "message_not_found" },
        );
      }
      // The guard decides who may act.
      await assert.rejects(
        store.append(
          { kind: "edit", room: "r", author: bob, target: 1, text: "mine now" },
          (target) => {
            if (target.author.id !== bob.id) throw new ProtocolError("forbidden", "not yours");
          },
        ),
        { code: "forbidden" },
      );
      assert.equal((await store.getRoom("r"))?.lastSeq, 4);
      assert.equal((await store.history("r", { limit: 1, after: 0 })).messages[0]?.text, "first");
    },
  );

  withStore("users and memberships are kept", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    await store.createRoom({ name: "s", topic: "", createdBy: ada.id });
    await store.putUser(ada);
    assert.deepEqual(await store.getUser(ada.id), ada);
    assert.equal(await store.getUser("u_nobody"), null);
    await store.addMember("r", ada.id);
    await store.addMember("s", ada.id);
    await store.addMember("r", ada.id);
    assert.deepEqual((await store.roomsOf(ada.id)).sort(), ["r", "s"]);
    await store.removeMember("s", ada.id);
    assert.deepEqual(await store.roomsOf(ada.id), ["r"]);
    assert.deepEqual(await store.roomsOf(bob.id), []);
  });

  withStore("read markers only move forward and drive unread counts", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    for (let i = 1; i <= 6; i++) {
      await store.append(text("r", i <= 4 ? bob : ada, `m${i}`, `nonce-${i}`));
    }
    await store.append({ kind: "delete", room: "r", author: bob, target: 4 });
    assert.equal(await store.unreadCount("r", ada.id, 100), 3, "bob's texts, less the deleted one");
    assert.equal(await store.unreadCount("r", ada.id, 2), 2, "capped");
    assert.deepEqual(await store.setReadMarker("r", ada.id, 2), { seq: 2, moved: true });
    assert.deepEqual(
      await store.setReadMarker("r", ada.id, 1),
      { seq: 2, moved: false },
      "never backwards",
    );
    assert.equal(await store.unreadCount("r", ada.id, 100), 1);
    assert.deepEqual(
      await store.setReadMarker("r", ada.id, 999),
      { seq: 7, moved: true },
      "clamped",
    );
    assert.equal(await store.unreadCount("r", ada.id, 100), 0);
    await store.setReadMarker("r", bob.id, 3);
    assert.deepEqual(
      (await store.readMarkers("r")).sort((a, b) => a.userId.localeCompare(b.userId)),
      [{ userId: ada.id, seq: 7 }, { userId: bob.id, seq: 3 }],
    );
    assert.equal(await store.readMarker("r", "u_nobody"), 0);
  });

  let clock = 1_000 * DAY;
  withStore("retention removes the oldest entries by count and by age", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    for (let i = 1; i <= 10; i++) {
      clock += DAY;
      await store.append(text("r", ada, `m${i}`, `nonce-${i}`));
    }
    assert.deepEqual(await store.prune("r", { maxCount: 6 }, clock), { removed: 4 });
    assert.equal(await store.firstSeq("r"), 5);
    const page = await store.history("r", { limit: 100 });
    assert.deepEqual(page.messages.map((m) => m.seq), [5, 6, 7, 8, 9, 10]);
    assert.equal(page.hasMore, false);
    assert.deepEqual(
      (await store.history("r", { after: 0, limit: 2 })).messages.map((m) => m.seq),
      [5, 6],
    );
    // m5..m10 were written on days 1005..1010; keep the last 3 days' worth.
    assert.deepEqual(await store.prune("r", { maxAgeDays: 2.5 }, clock), { removed: 3 });
    assert.equal(await store.firstSeq("r"), 8);
    assert.deepEqual(await store.prune("r", { maxAgeDays: 2.5, maxCount: 100 }, clock), {
      removed: 0,
    });
    // seq keeps counting from where it was.
    assert.equal((await store.append(text("r", ada, "after", "nonce-new"))).message.seq, 11);
  }, { now: () => clock });

  withStore(
    "retention run by two processes at once removes each entry once",
    async (store, fixture) => {
      const other = await fixture.openShared();
      try {
        await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
        for (let i = 1; i <= 300; i++) await store.append(text("r", ada, `m${i}`, `nonce-${i}`));
        // Every process sweeps on its own timer: they may well run together.
        const [one, two] = await Promise.all([
          store.prune("r", { maxCount: 100 }, Date.now()),
          other.prune("r", { maxCount: 100 }, Date.now()),
        ]);
        assert.equal(one.removed + two.removed, 200, "each entry removed once");
        assert.equal(await store.firstSeq("r"), 201);
        const kept = await other.history("r", { after: 0, limit: 200 });
        assert.deepEqual(
          kept.messages.map((m) => m.seq),
          Array.from({ length: 100 }, (_, i) => 201 + i),
        );
        assert.equal((await other.append(text("r", ada, "next", "nonce-next"))).message.seq, 301);
      } finally {
        await other.close();
      }
    },
    { needs: ["openShared"] },
  );

  withStore(
    "retention cuts inside a burst committed together; pages span what is left",
    async (store) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      await Promise.all(
        Array.from(
          { length: 30 },
          (_, i) => store.append(text("r", ada, `m${i + 1}`, `n-${i + 1}`)),
        ),
      );
      assert.deepEqual(await store.prune("r", { maxCount: 12 }, Date.now()), { removed: 18 });
      assert.equal(await store.firstSeq("r"), 19);
      const page = await store.history("r", { limit: 5 });
      assert.deepEqual(
        page.messages.map((m) => m.seq),
        [26, 27, 28, 29, 30],
      );
      assert.equal(page.hasMore, true);
      const older = await store.history("r", { before: 26, limit: 10 });
      assert.deepEqual(
        older.messages.map((m) => m.text),
        Array.from({ length: 7 }, (_, i) => `m${i + 19}`),
      );
      assert.equal(older.hasMore, false);
      const after = await store.history("r", { after: 20, limit: 3 });
      assert.deepEqual(after.messages.map((m) => m.seq), [21, 22, 23]);
      // A kept entry can still be edited; a pruned one cannot.
      await store.append({ kind: "edit", room: "r", author: ada, target: 19, text: "kept" });
      await assert.rejects(
        store.append({ kind: "edit", room: "r", author: ada, target: 18, text: "gone" }),
        { code: "message_not_found" },
      );
      const rest = await store.history("r", { after: 0, limit: 100 });
      assert.deepEqual(
        rest.messages.map((m) => m.seq),
        Array.from({ length: 13 }, (_, i) => i + 19),
      );
      assert.equal(rest.messages[0]?.text, "kept");
    },
  );

  withStore(
    "edits that grow a burst's entries to full length keep every entry in order",
    async (store) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) => store.append(text("r", ada, `m${i + 1}`, `n-${i + 1}`)),
        ),
      );
      const long = (i: number) => `${i}:` + "ж".repeat(LIMITS.messageChars - 4);
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          Array.from({ length: 10 }, (_, k) => {
            const target = round * 10 + k + 1;
            return store.append({
              kind: "edit",
              room: "r",
              author: ada,
              target,
              text: long(target),
            });
          }),
        );
      }
      const all = await store.history("r", { after: 0, limit: 100 });
      assert.deepEqual(all.messages.map((m) => m.seq), Array.from({ length: 80 }, (_, i) => i + 1));
      for (let seq = 1; seq <= 40; seq++) {
        assert.equal(all.messages[seq - 1]?.text, long(seq), `entry ${seq} holds its edit`);
      }
      await store.append({ kind: "delete", room: "r", author: ada, target: 25 });
      const page = await store.history("r", { before: 27, limit: 3 });
      assert.deepEqual(page.messages.map((m) => [m.seq, m.deleted ?? false]), [
        [24, false],
        [25, true],
        [26, false],
      ]);
    },
  );

  withStore("an edit queued with its target's send, in the same tick, applies", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const [sent, edited] = await Promise.all([
      store.append(text("r", ada, "frist", "n-1")),
      store.append({ kind: "edit", room: "r", author: ada, target: 1, text: "first" }),
    ]);
    assert.equal(sent.message.text, "frist", "the send's own result is the entry as sent");
    assert.deepEqual([edited.message.kind, edited.message.seq], ["edit", 2]);
    const page = await store.history("r", { after: 0, limit: 10 });
    assert.deepEqual(page.messages.map((m) => [m.seq, m.text]), [[1, "first"], [2, "first"]]);
  });

  withStore("a page read while retention cuts the room has no entry twice", async (store) => {
    for (let round = 0; round < 40; round++) {
      const room = `r${round}`;
      await store.createRoom({ name: room, topic: "", createdBy: ada.id });
      for (let burst = 0; burst < 12; burst++) {
        await Promise.all(
          Array.from(
            { length: 10 },
            (_, i) => store.append(text(room, ada, "m", `n-${burst}-${i}`)),
          ),
        );
      }
      const [page] = await Promise.all([
        store.history(room, { after: 0, limit: 100 }),
        (async () => {
          for (let hop = 0; hop < round % 4; hop++) await Promise.resolve();
          await store.prune(room, { maxCount: 45 }, Date.now());
        })(),
      ]);
      const seqs = page.messages.map((m) => m.seq);
      assert.ok(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!), `ascending: ${seqs}`);
    }
  });

  withStore(
    "a resend 3,000 entries back is recognised after a reopen and by a sibling",
    async (store, fixture) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      await store.append(text("r", ada, "orig", "n-orig"));
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from(
            { length: 300 },
            (_, i) => store.append(text("r", ada, "x", `n-${round}-${i}`)),
          ),
        );
      }
      const sibling = await fixture.openShared();
      try {
        await store.close();
        const again = await fixture.reopen();
        fixture.store = again;
        const resend = await again.append(text("r", ada, "orig", "n-orig"));
        assert.deepEqual([resend.duplicate, resend.message.seq], [true, 1]);
        const viaSibling = await sibling.append(text("r", ada, "x", "n-0-0"));
        assert.deepEqual([viaSibling.duplicate, viaSibling.message.seq], [true, 2]);
      } finally {
        await sibling.close();
      }
    },
    { needs: ["reopen", "openShared"] },
  );

  withStore("a name is free again only once its deletion has cleared up", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    for (let i = 0; i < 60; i++) await store.addMember("r", `u_${i}`);
    await store.append(text("r", ada, "old", "n-old"));
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    const deleting = store.deleteRoom("r", () => held);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The caller's own cleanup has not finished: the name is not free yet.
    assert.equal(await store.createRoom({ name: "r", topic: "", createdBy: bob.id }), null);
    release();
    assert.equal(await deleting, true);
    assert.ok(await store.createRoom({ name: "r", topic: "again", createdBy: bob.id }));
    await store.addMember("r", bob.id);
    const fresh = await store.append(text("r", bob, "new", "n-new"));
    assert.equal(fresh.message.seq, 1);
    assert.deepEqual((await store.history("r", { limit: 10 })).messages.map((m) => m.text), [
      "new",
    ]);
    assert.deepEqual(await store.membersOf("r"), [bob.id]);
  });

  withStore(
    "a room deleted and made anew by another handle starts a fresh nonce window",
    async (store, fixture) => {
      const other = await fixture.openShared();
      try {
        await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
        await store.append(text("r", ada, "hello", "n-1"));
        await other.deleteRoom("r");
        await other.createRoom({ name: "r", topic: "", createdBy: bob.id });
        await other.append(text("r", bob, "bob's", "n-x"));
        const resend = await store.append(text("r", ada, "hello", "n-1"));
        assert.equal(resend.duplicate, false, "not a duplicate of Bob's message");
        assert.deepEqual([resend.message.author.id, resend.message.seq], [ada.id, 2]);
      } finally {
        await other.close();
      }
    },
    { needs: ["openShared"] },
  );

  withStore("two handles on the same data commit one gapless timeline", async (store, fixture) => {
    const other = await fixture.openShared();
    try {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      const results = await Promise.all(
        Array.from(
          { length: 200 },
          (_, i) =>
            (i % 2 ? store : other).append(text("r", i % 2 ? ada : bob, `m${i}`, `nonce-${i}`)),
        ),
      );
      const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1));
      const page = await other.history("r", { after: 0, limit: 100 });
      assert.deepEqual(page.messages.map((m) => m.seq), seqs.slice(0, 100));
      // A resend of a nonce committed through the other handle is a duplicate here too.
      const again = await store.append(text("r", bob, "m0", "nonce-0"));
      assert.equal(again.duplicate, true);
      assert.equal(store.epoch, other.epoch);
    } finally {
      await other.close();
    }
  }, { needs: ["openShared"] });

  withStore(
    "a resend is recognised after a reopen, far back and after an edit",
    async (store, fixture) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      await Promise.all(
        Array.from({ length: 450 }, (_, i) => store.append(text("r", ada, `m${i}`, `nonce-${i}`))),
      );
      await store.append({ kind: "edit", room: "r", author: ada, target: 3, text: "edited" });
      await store.close();
      const again = await fixture.reopen();
      fixture.store = again;
      for (const i of [2, 300, 449]) {
        const resend = await again.append(text("r", ada, `m${i}`, `nonce-${i}`));
        assert.equal(resend.duplicate, true, `nonce-${i} is known after the reopen`);
        assert.equal(resend.message.seq, i + 1);
      }
      assert.equal((await again.append(text("r", ada, "m2", "nonce-2"))).message.text, "edited");
      assert.equal((await again.append(text("r", bob, "new", "nonce-2"))).duplicate, false);
    },
    { needs: ["reopen"] },
  );

  withStore(
    "everything survives a close and reopen, with the same epoch",
    async (store, fixture) => {
      await store.createRoom({ name: "r", topic: "kept", createdBy: ada.id });
      await store.append(text("r", ada, "durable", "nonce-1"));
      await store.putUser(ada);
      await store.addMember("r", ada.id);
      await store.setReadMarker("r", ada.id, 1);
      const epoch = store.epoch;
      await store.close();
      const again = await fixture.reopen();
      fixture.store = again;
      assert.equal(again.epoch, epoch);
      assert.equal((await again.getRoom("r"))?.topic, "kept");
      assert.equal((await again.history("r", { limit: 5 })).messages[0]?.text, "durable");
      assert.deepEqual(await again.roomsOf(ada.id), ["r"]);
      assert.equal(await again.readMarker("r", ada.id), 1);
      assert.equal((await again.append(text("r", ada, "durable", "nonce-1"))).duplicate, true);
    },
    { needs: ["reopen"] },
  );

  withStore(
    "a resend is recognised by a fresh handle after many later batches",
    async (store, fixture) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      const first = await store.append(text("r", ada, "original", "nonce-orig"));
      for (let round = 0; round < 60; round++) {
        await Promise.all(
          Array.from(
            { length: 25 },
            (_, i) => store.append(text("r", bob, "later", `nonce-${round}-${i}`)),
          ),
        );
      }
      await store.close();
      const again = await fixture.reopen();
      fixture.store = again;
      const resend = await again.append(text("r", ada, "original", "nonce-orig"));
      assert.equal(resend.duplicate, true);
      assert.deepEqual(resend.message, first.message);
      const late = await again.append(text("r", bob, "later", "nonce-59-24"));
      assert.equal(late.duplicate, true);
      assert.equal((await again.getRoom("r"))?.lastSeq, 1 + 60 * 25);
    },
    { needs: ["reopen"] },
  );

  withStore("rooms carry a kind and a title; patches change only what they name", async (store) => {
    const dm = await store.createRoom({ name: "d1", kind: "dm", topic: "", createdBy: ada.id });
    assert.equal(dm?.kind, "dm");
    const plain = await store.createRoom({ name: "p1", topic: "t", createdBy: ada.id });
    assert.equal(plain?.kind, "public");
    assert.equal(plain?.title, "");
    const titled = await store.updateRoom("p1", { title: "Plans", disabled: true });
    assert.equal(titled?.title, "Plans");
    assert.equal(titled?.topic, "t");
    assert.equal(titled?.disabled, true);
    assert.equal((await store.updateRoom("p1", { disabled: false }))?.disabled, undefined);
  });

  withStore(
    "members are listed both ways, and a deleted room takes its data along",
    async (store) => {
      await store.createRoom({ name: "gone", topic: "", createdBy: ada.id });
      await store.addMember("gone", ada.id);
      await store.addMember("gone", bob.id);
      assert.deepEqual((await store.membersOf("gone")).sort(), [ada.id, bob.id]);
      assert.equal(await store.isMember("gone", ada.id), true);
      assert.equal(await store.isMember("gone", "u_nobody"), false);
      await store.append(text("gone", ada, "bye", "nonce-bye1"));
      await store.setReadMarker("gone", bob.id, 1);
      assert.equal(await store.deleteRoom("gone"), true);
      assert.equal(await store.deleteRoom("gone"), false);
      assert.equal(await store.getRoom("gone"), null);
      assert.deepEqual(await store.roomsOf(ada.id), []);
      assert.deepEqual(await store.membersOf("gone"), []);
      assert.equal(await store.isMember("gone", ada.id), false);
      await assert.rejects(store.append(text("gone", ada, "late", "nonce-late")), ProtocolError);
      // The name can be used again, from seq 1 and with no old markers.
      await store.createRoom({ name: "gone", topic: "", createdBy: bob.id });
      assert.equal((await store.append(text("gone", bob, "new", "nonce-new1"))).message.seq, 1);
      assert.equal(await store.readMarker("gone", bob.id), 0);
    },
  );

  // Reactions, replies, mentions, files and search: tests/store_contract_features.ts.
  featureContract(withStore);
}
