/** The Store contract: one suite, run against every adapter. */
import assert from "node:assert/strict";
import type { Store } from "../server/store/types.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };

export function storeContract(
  name: string,
  open: () => Promise<{ store: Store; dispose?: () => Promise<void> }>,
): void {
  const withStore = (title: string, body: (store: Store) => Promise<void>) =>
    Deno.test(`store contract (${name}): ${title}`, async () => {
      const { store, dispose } = await open();
      try {
        await body(store);
      } finally {
        await store.close();
        await dispose?.();
      }
    });

  withStore("rooms are created once, listed and read back", async (store) => {
    const created = await store.createRoom({ name: "r1", topic: "t", createdBy: ada.id });
    assert.equal(created?.name, "r1");
    assert.equal(created?.lastSeq, 0);
    assert.equal(await store.createRoom({ name: "r1", topic: "other", createdBy: bob.id }), null);
    assert.equal((await store.getRoom("r1"))?.topic, "t");
    assert.equal(await store.getRoom("missing"), null);
    assert.ok((await store.listRooms()).some((r) => r.name === "r1"));
    assert.equal(typeof store.epoch, "string");
    assert.ok(store.epoch.length > 0);
  });

  withStore("seq is gapless and follows call order under concurrent appends", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const results = await Promise.all(
      Array.from(
        { length: 300 },
        (_, i) =>
          store.append({
            room: "r",
            author: i % 2 ? ada : bob,
            text: `m${i}`,
            nonce: `nonce-${i}`,
          }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.message.seq),
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      results.map((r) => r.message.text),
      Array.from({ length: 300 }, (_, i) => `m${i}`),
    );
    assert.equal((await store.getRoom("r"))?.lastSeq, 300);
    assert.equal(new Set(results.map((r) => r.message.id)).size, 300);
  });

  withStore("a repeated nonce returns the original message and stores nothing", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const first = await store.append({ room: "r", author: ada, text: "hi", nonce: "nonce-1" });
    const again = await store.append({ room: "r", author: ada, text: "hi", nonce: "nonce-1" });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.message, first.message);
    // The same nonce from someone else is a different message.
    const other = await store.append({ room: "r", author: bob, text: "hi", nonce: "nonce-1" });
    assert.equal(other.duplicate, false);
    assert.equal(other.message.seq, 2);
    assert.equal((await store.history("r", { limit: 10 })).messages.length, 2);
  });

  withStore("appending to an unknown room fails with room_not_found", async (store) => {
    await assert.rejects(
      store.append({ room: "nope", author: ada, text: "x", nonce: "nonce-1" }),
      { code: "room_not_found" },
    );
  });

  withStore("history pages walk back by seq and forward with after", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    for (let i = 1; i <= 25; i++) {
      await store.append({ room: "r", author: ada, text: `m${i}`, nonce: `nonce-${i}` });
    }
    const latest = await store.history("r", { limit: 10 });
    assert.deepEqual(latest.messages.map((m) => m.seq), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    assert.equal(latest.hasMore, true);
    const older = await store.history("r", { before: 16, limit: 10 });
    assert.deepEqual(older.messages.map((m) => m.seq), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const oldest = await store.history("r", { before: 6, limit: 10 });
    assert.deepEqual(oldest.messages.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.equal(oldest.hasMore, false);
    const after = await store.history("r", { after: 20, limit: 3 });
    assert.deepEqual(after.messages.map((m) => m.seq), [21, 22, 23]);
    assert.equal(after.hasMore, true);
    const tail = await store.history("r", { after: 23, limit: 10 });
    assert.deepEqual(tail.messages.map((m) => m.seq), [24, 25]);
    assert.equal(tail.hasMore, false);
    const empty = await store.history("r", { before: 1, limit: 10 });
    assert.deepEqual(empty, { messages: [], hasMore: false });
  });

  withStore("messages keep author, text, time and nonce", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const before = Date.now();
    const { message } = await store.append({
      room: "r",
      author: ada,
      text: "ünïcode 👋",
      nonce: "nonce-x",
    });
    const [read] = (await store.history("r", { limit: 1 })).messages;
    assert.deepEqual(read, message);
    assert.deepEqual(message.author, ada);
    assert.equal(message.text, "ünïcode 👋");
    assert.equal(message.nonce, "nonce-x");
    assert.ok(message.ts >= before && message.ts <= Date.now());
  });
}
