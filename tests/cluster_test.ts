/**
 * Three real Parley processes on one PostgreSQL store and one Redis bus: clients spread
 * over them share rooms as if they were on one server.
 */
import assert from "node:assert/strict";
import type { Message, ServerFrame } from "../protocol/messages.ts";
import { eventually, signIn, TestClient } from "./helpers.ts";
import { clusterTest } from "./support/cluster.ts";

function messages(client: TestClient, room: string): Message[] {
  return client.pushes("message").map((p) => p.message).filter((m) => m.room === room);
}

clusterTest("cluster: three processes deliver every message to every client once, in seq order", {
  nodes: 3,
}, async (cluster, closeLater) => {
  const clients: TestClient[] = [];
  for (let i = 0; i < 9; i++) {
    clients.push(closeLater(await TestClient.connect(cluster.nodes[i % 3]!, `user${i}`)));
  }
  for (const client of clients) await client.request("room.join", { room: "general" });
  // Every client sends at once, so appends race across processes on one room.
  const perClient = 30;
  await Promise.all(clients.map(async (client, i) => {
    for (let n = 0; n < perClient; n++) {
      await client.request("send", {
        room: "general",
        text: `m${i}.${n}`,
        nonce: `nonce-${i}-${n}`,
      });
    }
  }));
  const total = clients.length * perClient;
  for (const client of clients) {
    await eventually(() => messages(client, "general").length >= total, 15_000);
  }
  await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up
  for (const client of clients) {
    const seqs = messages(client, "general").map((m) => m.seq);
    assert.equal(seqs.length, total, `${client.user.name} got each message once`);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "in seq order, no gap");
  }
  const last = messages(clients[0]!, "general").at(-1)!.seq;
  const history = await clients[4]!.request("history", { room: "general", limit: 5 });
  assert.equal(history.messages.at(-1)!.seq, last, "history agrees with live delivery");
});

clusterTest(
  "cluster: presence, typing, edits, deletes, receipts, mutes, kicks, bans and logout act across processes",
  { nodes: 3 },
  async (cluster, closeLater) => {
    const [a, b, c] = cluster.nodes as [
      typeof cluster.nodes[0],
      typeof cluster.nodes[0],
      typeof cluster.nodes[0],
    ];
    const connect = async (node: { url: string; wsUrl: string }, who: string) => {
      const client = await TestClient.connect(node, who);
      closeLater(client);
      return client;
    };
    const root = await connect(a!, "root");
    await root.request("room.create", { room: "team", topic: "", receipts: true });
    await root.request("room.join", { room: "team" });
    const ada = await connect(b!, "ada");
    const bob = await connect(c!, "bob");
    await ada.request("room.join", { room: "team" });
    const bobJoin = await bob.request("room.join", { room: "team" });
    assert.deepEqual(
      bobJoin.presence.map((u) => u.name).sort(),
      ["ada", "bob", "root"],
      "the join snapshot covers every process",
    );
    const listed = await bob.request("room.list", {});
    assert.equal(
      listed.rooms.find((r) => r.name === "team")?.online,
      3,
      "online is cluster-wide",
    );

    // A second device on another process: closing one tab is not a leave.
    const ada2 = await connect(c!, "ada");
    await ada2.request("room.join", { room: "team" });
    await ada2.close();
    await new Promise((r) => setTimeout(r, 500));
    const leftEarly = root.pushes("presence").some((p) => p.leaves.some((u) => u.name === "ada"));
    assert.equal(leftEarly, false, "ada is still online through process b");
    const members = await root.request("room.members", { room: "team" });
    assert.equal(members.members.find((m) => m.user.name === "ada")?.online, true);

    // Typing on one process reaches the others.
    const typing = root.next((f) => f.type === "typing" && f.user.name === "bob");
    await bob.request("typing", { room: "team", active: true });
    await typing;

    // Edits and deletes reach every process in order.
    const sent = await ada.request("send", { room: "team", text: "frist", nonce: "ada-nonce-1" });
    const edited = bob.next((f) => f.type === "message" && f.message.kind === "edit");
    await ada.request("edit", { room: "team", seq: sent.message.seq, text: "first" });
    await edited;
    const deleted = root.next((f) => f.type === "message" && f.message.kind === "delete");
    await ada.request("delete", { room: "team", seq: sent.message.seq });
    await deleted;

    // A read receipt from process c shows on process a.
    const receipt = root.next((f) => f.type === "receipt" && f.user.name === "bob");
    await bob.request("read", { room: "team", seq: sent.message.seq });
    await receipt;

    // A mute made on a holds on c at once.
    await root.request("room.mute", { room: "team", user: bob.user.id, minutes: 5 });
    await eventually(() => root.pushes("moderation").length > 0);
    await assert.rejects(
      () => bob.request("send", { room: "team", text: "still here?", nonce: "bob-nonce-muted" }),
      (error: Error) => error.message.startsWith("forbidden"),
    );
    await root.request("room.unmute", { room: "team", user: bob.user.id });

    // A kick made on a removes ada's socket on b from the room.
    const kicked = ada.next((f) => f.type === "room.removed" && f.reason === "kicked");
    await root.request("room.kick", { room: "team", user: ada.user.id });
    await kicked;
    await assert.rejects(
      () => ada.request("send", { room: "team", text: "back?", nonce: "ada-nonce-2" }),
      (error: Error) => error.message.startsWith("not_joined"),
    );
    const aliceLeft = (f: ServerFrame) =>
      f.type === "presence" && f.leaves.some((u) => u.name === "ada");
    await eventually(() => root.frames.some(aliceLeft), 5000);

    // A ban made on a keeps bob (on c) out.
    const banned = bob.next((f) => f.type === "room.removed" && f.reason === "banned");
    await root.request("room.ban", { room: "team", user: bob.user.id });
    await banned;
    await assert.rejects(
      () => bob.request("room.join", { room: "team" }),
      (error: Error) => error.message.startsWith("forbidden"),
    );

    // Logging out through a closes the session's socket on c.
    const carol = await signIn(a!, "carol");
    const carolSocket = await TestClient.open(c!, carol);
    closeLater(carolSocket);
    const logout = await fetch(`${a!.url}/api/logout`, {
      method: "POST",
      headers: { cookie: carol.cookie, origin: a!.url, "content-type": "application/json" },
      body: "{}",
    });
    await logout.body?.cancel();
    const closed = await carolSocket.closed;
    assert.equal(closed.code, 4004);
  },
);

clusterTest(
  "cluster: a webhook gets each entry once, whichever process committed it",
  { nodes: 3 },
  async (cluster, closeLater) => {
    const received: { delivery: string; seq: number }[] = [];
    const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
      const payload = await r.json();
      received.push({ delivery: payload.delivery, seq: payload.message.seq });
      return new Response("ok");
    });
    closeLater({ close: () => receiver.shutdown() });
    const clients: TestClient[] = [];
    const root = await signIn(cluster.nodes[0]!, "root");
    const created = await fetch(`${cluster.nodes[0]!.url}/api/admin/webhooks`, {
      method: "POST",
      headers: {
        cookie: root.cookie,
        origin: cluster.nodes[0]!.url,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        url: `http://127.0.0.1:${receiver.addr.port}/hook`,
        room: "general",
        events: ["message.created"],
      }),
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    await new Promise((r) => setTimeout(r, 5500)); // every process's webhook cache expires
    for (let i = 0; i < 3; i++) {
      const client = await TestClient.connect(cluster.nodes[i]!, `poster${i}`);
      clients.push(closeLater(client));
      await client.request("room.join", { room: "general" });
    }
    await Promise.all(clients.map(async (client, i) => {
      for (let n = 0; n < 10; n++) {
        await client.request("send", { room: "general", text: `h${n}`, nonce: `hook-${i}-${n}` });
      }
    }));
    await eventually(() => received.length >= 30, 10_000);
    await new Promise((r) => setTimeout(r, 1000)); // room for a second delivery to show up
    const seqs = received.map((r) => r.seq).sort((a, b) => a - b);
    assert.equal(received.length, 30, "one delivery per entry");
    assert.equal(new Set(seqs).size, 30);
    assert.equal(new Set(received.map((r) => r.delivery)).size, 30);
  },
);
