/** End to end: a real server on port 0 and real WebSocket clients. */
import assert from "node:assert/strict";
import { CLOSE_CODES } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import { eventually, signIn, startServer, TestClient, upgradeStatus } from "./helpers.ts";

Deno.test("e2e: three clients in two rooms chat, with history, presence and typing", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "Ada");
  const bob = await TestClient.connect(server, "Bob");
  const cy = await TestClient.connect(server, "Cy");
  try {
    // Room list and live room creation.
    const { rooms } = await ada.request("room.list", {});
    assert.deepEqual(rooms.map((r) => r.name), ["general"]);
    const created = bob.next((f) => f.type === "room" && f.room.name === "dev");
    await ada.request("room.create", { room: "dev", topic: "Deno talk" });
    await created;

    // Ada and Bob in general; Cy in dev.
    const adaJoin = await ada.request("room.join", { room: "general" });
    assert.deepEqual(adaJoin.presence.map((m) => m.name), ["Ada"]);
    const bobArrives = ada.next((f) =>
      f.type === "presence" && f.joins.some((m) => m.name === "Bob")
    );
    const bobJoin = await bob.request("room.join", { room: "general" });
    await bobArrives;
    assert.deepEqual(bobJoin.presence.map((m) => m.name).sort(), ["Ada", "Bob"]);
    await cy.request("room.join", { room: "dev" });

    // Messages stay inside their room.
    const atBob = bob.next((f) => f.type === "message" && f.message.text === "hi general");
    const sent = await ada.request("send", {
      room: "general",
      text: "hi general",
      nonce: "nonce-ada-1",
    });
    assert.equal(sent.message.seq, 1);
    assert.deepEqual((await atBob as { message: unknown }).message, sent.message);
    const atCyOwn = cy.next((f) => f.type === "message" && f.message.room === "dev");
    await cy.request("send", { room: "dev", text: "hi dev", nonce: "nonce-cy-1" });
    await atCyOwn;
    await bob.request("send", { room: "general", text: "second", nonce: "nonce-bob-1" });
    await bob.request("send", { room: "general", text: "third", nonce: "nonce-bob-2" });
    await bob.request("ping", {}); // a round trip, so all pushes so far have arrived
    await ada.request("ping", {});
    assert.equal(cy.pushes("message").filter((m) => m.message.room === "general").length, 0);
    assert.equal(ada.pushes("message").filter((m) => m.message.room === "dev").length, 0);
    assert.deepEqual(ada.pushes("message").map((m) => m.message.seq), [1, 2, 3]);

    // History on join, and presence diffs to those already there.
    const cyArrives = ada.next((f) =>
      f.type === "presence" && f.joins.some((m) => m.name === "Cy")
    );
    const cyJoin = await cy.request("room.join", { room: "general", limit: 2 });
    assert.deepEqual(cyJoin.messages.map((m) => m.text), ["second", "third"]);
    assert.equal(cyJoin.hasMore, true);
    const older = await cy.request("history", { room: "general", before: 2, limit: 10 });
    assert.deepEqual(older.messages.map((m) => m.text), ["hi general"]);
    assert.equal(older.hasMore, false);
    assert.deepEqual(cyJoin.presence.map((m) => m.name).sort(), ["Ada", "Bob", "Cy"]);
    await cyArrives;

    // Typing reaches the others, not the typist.
    const typingAtBob = bob.next((f) => f.type === "typing" && f.user.name === "Ada" && f.active);
    await ada.request("typing", { room: "general", active: true });
    await typingAtBob;
    await ada.request("ping", {});
    assert.equal(ada.pushes("typing").length, 0);

    // A resend with the same nonce is acknowledged with the original and not delivered twice.
    const again = await ada.request("send", {
      room: "general",
      text: "hi general",
      nonce: "nonce-ada-1",
    });
    assert.equal(again.duplicate, true);
    assert.equal(again.message.seq, 1);
    await bob.request("ping", {});
    assert.equal(bob.pushes("message").filter((m) => m.message.seq === 1).length, 1);

    // Leaving is a presence leave for the others.
    const cyLeaves = bob.next((f) =>
      f.type === "presence" && f.leaves.some((m) => m.name === "Cy")
    );
    await cy.close();
    await cyLeaves;
  } finally {
    await ada.close();
    await bob.close();
    await cy.close();
    await server.close();
  }
});

Deno.test("e2e: the sender gets its own message and the reply to its send in one WebSocket message", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "Ada");
  try {
    await ada.request("room.join", { room: "general" });
    for (let i = 0; i < 3; i++) {
      const before = ada.batches;
      const { message } = await ada.request("send", {
        room: "general",
        text: `hi ${i}`,
        nonce: `nonce-00${i}`,
      });
      assert.equal(ada.batches, before + 1, "one coalesced WebSocket message per send");
      const last = ada.frames.slice(-2);
      assert.equal(last[0]?.type === "message" && last[0].message.seq, message.seq);
      assert.equal(last[1]?.type, "reply");
    }
  } finally {
    await ada.close();
    await server.close();
  }
});

Deno.test("e2e: bad input gets a specific error code and the connection stays usable", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "Ada");
  try {
    const codeOf = async (frame: Record<string, unknown>) => {
      const reply = await ada.requestRaw(frame);
      return "error" in reply ? reply.error.code : "ok";
    };
    assert.equal(
      await codeOf({ type: "send", room: "general", text: "x", nonce: "nonce-0001" }),
      "not_joined",
    );
    assert.equal(await codeOf({ type: "room.join", room: "nowhere" }), "room_not_found");
    assert.equal(await codeOf({ type: "room.create", room: "general" }), "room_exists");
    assert.equal(await codeOf({ type: "room.create", room: "No Spaces" }), "invalid_room_name");
    assert.equal(await codeOf({ type: "fly" }), "unknown_type");
    assert.equal(await codeOf({ type: "ping", extra: 1 }), "invalid_frame");
    assert.equal(await codeOf({ type: "room.join" }), "invalid_frame");
    await ada.request("room.join", { room: "general" });
    assert.equal(
      await codeOf({ type: "send", room: "general", text: "  ", nonce: "nonce-0002" }),
      "text_empty",
    );
    const long = "x".repeat(LIMITS.messageChars + 1);
    assert.equal(
      await codeOf({ type: "send", room: "general", text: long, nonce: "nonce-0003" }),
      "text_too_long",
    );
    assert.equal(await codeOf({ type: "hello", v: [1] }), "already_hello");

    const pushed = ada.next((f) => f.type === "error");
    ada.socket.send("{not json");
    assert.equal((await pushed as { error: { code: string } }).error.code, "bad_json");

    // Still usable after all of that.
    const { ts } = await ada.request("ping", {});
    assert.ok(ts > 0);
    const ok = await ada.request("send", {
      room: "general",
      text: "still here",
      nonce: "nonce-0004",
    });
    assert.equal(ok.message.seq, 1);
  } finally {
    await ada.close();
    await server.close();
  }
});

Deno.test("e2e: a frame over the byte cap closes the socket with a do-not-reconnect code", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "Ada");
  try {
    ada.socket.send(JSON.stringify({ type: "ping", id: 1, pad: "x".repeat(LIMITS.frameBytes) }));
    const event = await ada.closed;
    assert.equal(event.code, CLOSE_CODES.frameTooLarge);
    assert.equal(ada.pushes("error")[0]?.error.code, "frame_too_large");
    // The server is unharmed.
    const bob = await TestClient.connect(server, "Bob");
    await bob.request("ping", {});
    await bob.close();
  } finally {
    await server.close();
  }
});

Deno.test("e2e: the upgrade checks Origin (403) and credentials (401) before opening a socket", async () => {
  const server = await startServer({ allowedOrigins: ["https://app.example"] });
  try {
    const { cookie } = await signIn(server, "Ada");
    const ws = server.wsUrl;
    assert.equal(await upgradeStatus(ws, { cookie, Origin: "http://evil.example" }), 403);
    assert.equal(await upgradeStatus(ws, { Origin: server.url }), 401);
    assert.equal(await upgradeStatus(ws, { cookie: cookie + "x", Origin: server.url }), 401);
    assert.equal(
      await upgradeStatus(ws, { Authorization: "Bearer not-a-session", Origin: server.url }),
      401,
    );
    assert.equal(await upgradeStatus(`${ws}?ticket=forged`, { Origin: server.url }), 401);
    assert.equal(await upgradeStatus(ws, { cookie, Origin: server.url }), 101);
    assert.equal(await upgradeStatus(ws, { cookie, Origin: "https://app.example" }), 101);
    // A browser-made connection from a foreign page fails to open at all.
    await assert.rejects(TestClient.connect(server, "Eve", { origin: "http://evil.example" }));
  } finally {
    await server.close();
  }
});

Deno.test("e2e: pages and assets carry security and cache headers", async () => {
  const server = await startServer();
  try {
    const page = await fetch(server.url + "/");
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    assert.match(html, /general/, "the room list is rendered on the server");
    const js = html.match(/src="(\/assets\/app\.[0-9a-f]+\.js)"/)?.[1];
    const css = html.match(/href="(\/assets\/app\.[0-9a-f]+\.css)"/)?.[1];
    assert.ok(js && css, "hashed asset links in the page");
    const asset = await fetch(server.url + js);
    await asset.body?.cancel();
    assert.match(asset.headers.get("cache-control") ?? "", /immutable/);
    const etag = asset.headers.get("etag")!;
    const again = await fetch(server.url + js, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    await again.body?.cancel();
    const schema = await (await fetch(server.url + "/protocol.json")).json();
    assert.equal(schema.title, "Parley chat protocol");
    assert.equal((await (await fetch(server.url + "/healthz")).json()).ok, true);
    const metrics = await (await fetch(server.url + "/metrics")).text();
    assert.match(metrics, /parley_connections 0/);
    const rss = Number(/^parley_memory_rss_bytes (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(rss > 10 * 1024 * 1024, `RSS reported in bytes: ${rss}`);
    assert.match(metrics, /^parley_memory_heap_used_bytes \d+$/m);
    const missing = await fetch(server.url + "/nope");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("e2e: shutting down closes sockets with a reconnect code", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "Ada");
  await server.close();
  const event = await ada.closed;
  assert.equal(event.code, CLOSE_CODES.serviceRestart);
  await eventually(() => ada.socket.readyState === WebSocket.CLOSED);
});
