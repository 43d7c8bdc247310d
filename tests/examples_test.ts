/** The examples under examples/, each driven as a user would drive it. */
import assert from "node:assert/strict";
import { createChatServer } from "../mod.ts";
import { createApp } from "../examples/mount_app.ts";
import { wordFilter } from "../examples/word_filter.ts";
import { type RequestFailed, TestClient, upgradeStatus } from "./helpers.ts";

Deno.test("example word filter: masks listed words and refuses shouting", async () => {
  const chat = await createChatServer({
    data: ":memory:",
    log: "silent",
    auth: { passwordCost: 12 },
    hooks: wordFilter(["darn"]),
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, chat.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const ada = await TestClient.connect({ url, wsUrl: url.replace("http", "ws") + "/ws" }, "ada");
  try {
    await ada.request("room.join", { room: "general" });
    const sent = await ada.request("send", {
      room: "general",
      text: "Darn it, darnation",
      nonce: "nonce-w1",
    });
    assert.equal(sent.message.text, "**** it, darnation");
    await assert.rejects(
      ada.request("send", { room: "general", text: "WHY IS NOBODY LISTENING", nonce: "nonce-w2" }),
      (error: RequestFailed) => error.code === "refused" && /shout/.test(error.message),
    );
  } finally {
    await ada.close();
    await chat.close();
    await server.shutdown();
  }
});

Deno.test("example mounted app: Parley under /chat, the app's JWT users, tickets for browsers", async () => {
  const app = await createApp({ secret: "acme-secret-that-is-long-enough-1234", passwordCost: 12 });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const wsUrl = `ws://127.0.0.1:${server.addr.port}/chat/ws`;
  try {
    assert.match(await (await fetch(`${url}/`)).text(), /Acme home/);
    const page = await (await fetch(`${url}/chat/`)).text();
    assert.match(page, /<title>Acme chat<\/title>/);
    // A program connects with the application's JWT as a bearer token.
    const token = await app.tokenFor("7", "Grace");
    const socket = new WebSocket(
      wsUrl,
      { headers: { authorization: `Bearer ${token}` } } as unknown as string[],
    );
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    const grace = await TestClient.wrap(socket);
    assert.deepEqual(grace.user, { id: "jwt:7", name: "Grace" });
    await grace.request("room.join", { room: "general" });
    // A browser asks the application for a ticket and opens the socket with it, once.
    const answer = await fetch(`${url}/chat-ticket`, {
      method: "POST",
      headers: { "x-acme-user": "8" },
    });
    const { ticket } = await answer.json();
    const linusSocket = new WebSocket(`${wsUrl}?ticket=${ticket}`);
    await new Promise((resolve, reject) => {
      linusSocket.onopen = resolve;
      linusSocket.onerror = reject;
    });
    const linus = await TestClient.wrap(linusSocket);
    assert.equal(linus.user.name, "Linus");
    await linus.request("room.join", { room: "general" });
    const heard = grace.next((f) =>
      f.type === "message" && f.message.text === "hello from the app"
    );
    await linus.request("send", { room: "general", text: "hello from the app", nonce: "nonce-m1" });
    await heard;
    assert.equal(await upgradeStatus(`${wsUrl}?ticket=${ticket}`, {}), 401, "a ticket works once");
    const nobody = await fetch(`${url}/chat-ticket`, { method: "POST" });
    assert.equal(nobody.status, 404);
    await nobody.body?.cancel();
    await grace.close();
    await linus.close();
  } finally {
    await app.close();
    await server.shutdown();
  }
});
