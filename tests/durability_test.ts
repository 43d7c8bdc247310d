/** Durable history on Deno KV: restarts, a SIGKILL mid-send, edits, deletes and read markers. */
import assert from "node:assert/strict";
import type { Message } from "../protocol/messages.ts";
import { signIn, startServer, TestClient } from "./helpers.ts";
import { spawnServer } from "./process.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;

/** Every entry of a room, oldest first, paging with `after`. */
async function wholeRoom(client: TestClient, room: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const page = await client.request("history", { room, after: all.at(-1)?.seq ?? 0, limit: 100 });
    all.push(...page.messages);
    if (!page.hasMore) return all;
  }
}

Deno.test("durable: a SIGKILL mid-send loses nothing acknowledged and stores nothing twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-crash-" });
  const flags = [SERVER, "--data", dir, "--message-rate", "100000", "--message-burst", "100000"];
  const acked = new Map<string, { seq: number; text: string }>();
  let server = await spawnServer(flags);
  try {
    const senders = await Promise.all(
      Array.from({ length: 6 }, (_, i) => TestClient.connect(server, `Sender${i}`)),
    );
    for (const s of senders) await s.request("room.join", { room: "general" });
    let stop = false;
    const loops = senders.map(async (s, i) => {
      for (let n = 0; !stop && n < 100_000; n++) {
        const nonce = `crash-${i}-${n}`;
        try {
          const { message } = await s.request("send", {
            room: "general",
            text: `m ${i}.${n}`,
            nonce,
          });
          acked.set(nonce, { seq: message.seq, text: message.text });
        } catch {
          return; // the server died under us
        }
      }
    });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await server.stop("SIGKILL"), 137);
    stop = true;
    await Promise.all(loops);
    assert.ok(acked.size > 50, `only ${acked.size} acks before the kill`);

    server = await spawnServer(flags);
    const reader = await TestClient.connect(server, "Reader");
    await reader.request("room.join", { room: "general" });
    const history = await wholeRoom(reader, "general");
    assert.deepEqual(history.map((m) => m.seq), history.map((_, i) => i + 1), "gapless");
    const nonces = history.map((m) => m.nonce);
    assert.equal(new Set(nonces).size, nonces.length, "no message stored twice");
    const bySeq = new Map(history.map((m) => [m.seq, m]));
    for (const [nonce, { seq, text }] of acked) {
      assert.equal(bySeq.get(seq)?.nonce, nonce, `acknowledged ${nonce} missing at seq ${seq}`);
      assert.equal(bySeq.get(seq)?.text, text);
    }
    await reader.close();
    for (const s of senders) await s.close().catch(() => {});
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("durable: edits, deletes and read markers propagate live and survive a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-restart-" });
  let server = await startServer({ data: dir });
  try {
    const adaId = await signIn(server, "Ada");
    const bobId = await signIn(server, "Bob");
    const ada = await TestClient.open(server, adaId);
    const bob = await TestClient.open(server, bobId);
    const bobPhone = await TestClient.open(server, bobId);
    await ada.request("room.create", { room: "notes", receipts: true });
    for (const c of [ada, bob, bobPhone]) await c.request("room.join", { room: "notes" });
    const first = await ada.request("send", { room: "notes", text: "helo", nonce: "nonce-001" });
    await ada.request("send", { room: "notes", text: "oops", nonce: "nonce-002" });
    await ada.request("send", { room: "notes", text: "third", nonce: "nonce-003" });

    const editAtBob = bob.next((f) => f.type === "message" && f.message.kind === "edit");
    await ada.request("edit", { room: "notes", seq: first.message.seq, text: "hello" });
    assert.equal(((await editAtBob) as { message: Message }).message.text, "hello");
    const deleteAtBob = bob.next((f) => f.type === "message" && f.message.kind === "delete");
    await ada.request("delete", { room: "notes", seq: 2 });
    await deleteAtBob;
    const refused = await bob.requestRaw({ type: "edit", room: "notes", seq: 3, text: "mine" });
    assert.equal("error" in refused && refused.error.code, "forbidden");

    const receiptAtAda = ada.next((f) => f.type === "receipt" && f.user.name === "Bob");
    const readAtPhone = bobPhone.next((f) => f.type === "read");
    await bob.request("read", { room: "notes", seq: 3 });
    assert.equal(((await receiptAtAda) as { seq: number }).seq, 3);
    assert.equal(((await readAtPhone) as { seq: number }).seq, 3);
    for (const c of [ada, bob, bobPhone]) await c.close();
    await server.close();

    server = await startServer({ data: dir });
    const bobAgain = await TestClient.open(server, bobId);
    const rooms = (await bobAgain.request("room.list", {})).rooms;
    const notes = rooms.find((r) => r.name === "notes")!;
    assert.deepEqual([notes.member, notes.readSeq, notes.unread, notes.lastSeq], [true, 3, 0, 5]);
    const join = await bobAgain.request("room.join", { room: "notes" });
    const texts = join.messages.filter((m) => m.kind === "text");
    assert.deepEqual(texts.map((m) => [m.text, m.deleted ?? false, m.editedAt !== undefined]), [
      ["hello", false, true],
      ["", true, false],
      ["third", false, false],
    ]);
    assert.deepEqual(join.receipts?.map((r) => [r.user.name, r.seq]), [["Bob", 3]]);
    await bobAgain.close();
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("durable: a restart keeps the epoch; a wiped store gets a new one and recovery resets", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-epoch-" });
  let server = await startServer({ data: dir });
  try {
    const id = await signIn(server, "Ada");
    let ada = await TestClient.open(server, id, { hello: false });
    const { epoch } = await ada.request("hello", { v: [1] });
    await ada.request("room.join", { room: "general" });
    await ada.request("send", { room: "general", text: "one", nonce: "nonce-001" });
    await ada.close();
    await server.close();

    server = await startServer({ data: dir });
    ada = await TestClient.open(server, id, { hello: false });
    assert.equal((await ada.request("hello", { v: [1] })).epoch, epoch);
    const resumed = await ada.request("room.join", { room: "general", after: 1, epoch });
    assert.equal(resumed.recovered, true);
    await ada.close();
    await server.close();

    // Wiping the store wipes the accounts too: Ada signs up again, with her old seq in hand.
    await Deno.remove(`${dir}/parley.kv`);
    server = await startServer({ data: dir });
    ada = await TestClient.open(server, await signIn(server, "Ada"), { hello: false });
    const fresh = await ada.request("hello", { v: [1] });
    assert.notEqual(fresh.epoch, epoch);
    const reset = await ada.request("room.join", { room: "general", after: 1, epoch });
    assert.equal(reset.recovered, false);
    assert.deepEqual(reset.messages, []);
    await ada.close();
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
