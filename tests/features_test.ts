/**
 * Reactions, replies, mentions, search and the room directory, end to end: a real server
 * on port 0 (memory store) and real WebSocket clients.
 */
import assert from "node:assert/strict";
import { LIMITS } from "../protocol/limits.ts";
import type { Message, RequestBody, RequestType } from "../protocol/messages.ts";
import {
  RequestFailed,
  ROOT,
  signIn,
  startServer,
  TestClient,
  type TestServer,
} from "./helpers.ts";

/** Plenty of message budget: these tests post and react a lot, quickly. */
const ROOMY = { messageRate: { perSecond: 100, burst: 200 } };

let nonces = 0;
const nonce = () => `nonce-${++nonces}-features`;

/** The reply's error code, or "ok". */
async function attempt<T extends RequestType>(
  client: TestClient,
  type: T,
  body: RequestBody<T>,
): Promise<string> {
  try {
    await client.request(type, body);
    return "ok";
  } catch (error) {
    if (error instanceof RequestFailed) return error.code;
    throw error;
  }
}

async function say(client: TestClient, room: string, text: string, extra = {}) {
  return (await client.request("send", { room, text, nonce: nonce(), ...extra })).message;
}

async function guest(server: TestServer): Promise<TestClient> {
  const response = await fetch(`${server.url}/api/guest`, {
    method: "POST",
    headers: { origin: server.url },
  });
  assert.equal(response.status, 201);
  const { user } = await response.json();
  const cookie = response.headers.get("set-cookie")!.split(";")[0]!;
  return await TestClient.open(server, { cookie, user });
}

function textOf(messages: Message[], seq: number): Message {
  const found = messages.find((m) => m.seq === seq);
  assert.ok(found, `message ${seq} is there`);
  return found;
}

Deno.test("reactions: add, repeat, take back, counts and who, pushed live, in history", async () => {
  const server = await startServer(ROOMY);
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  try {
    await ada.request("room.create", { room: "r" });
    await ada.request("room.join", { room: "r" });
    await bob.request("room.join", { room: "r" });
    const original = await say(ada, "r", "react to me");

    const atAda = ada.next((f) => f.type === "message" && f.message.kind === "react");
    const { message: entry } = await bob.request("react", {
      room: "r",
      seq: original.seq,
      emoji: "👍",
    });
    assert.equal(entry.kind, "react");
    assert.equal(entry.target, original.seq);
    assert.equal(entry.emoji, "👍");
    assert.equal(entry.author.id, bob.user.id);
    assert.equal(entry.seq, original.seq + 1);
    assert.deepEqual((await atAda as { message: Message }).message, entry);

    await ada.request("react", { room: "r", seq: original.seq, emoji: "👍" });
    await ada.request("react", { room: "r", seq: original.seq, emoji: "🎉" });
    // A repeat is committed (every client applies it) and changes nothing.
    await bob.request("react", { room: "r", seq: original.seq, emoji: "👍" });
    let shown = textOf((await ada.request("history", { room: "r" })).messages, original.seq);
    assert.deepEqual(shown.reactions, [
      { emoji: "👍", users: [bob.user, ada.user] },
      { emoji: "🎉", users: [ada.user] },
    ]);

    const removed = await bob.request("react", {
      room: "r",
      seq: original.seq,
      emoji: "👍",
      remove: true,
    });
    assert.equal(removed.message.remove, true);
    // Taking back what is not there is harmless too.
    await bob.request("react", { room: "r", seq: original.seq, emoji: "🎉", remove: true });
    shown = textOf((await bob.request("history", { room: "r" })).messages, original.seq);
    assert.deepEqual(shown.reactions, [
      { emoji: "👍", users: [ada.user] },
      { emoji: "🎉", users: [ada.user] },
    ]);

    // Not emoji, not a text message, nothing there, a deleted message.
    assert.equal(
      await attempt(bob, "react", { room: "r", seq: original.seq, emoji: "yes" }),
      "invalid_frame",
    );
    assert.equal(
      await attempt(bob, "react", { room: "r", seq: entry.seq, emoji: "👍" }),
      "message_not_found",
    );
    assert.equal(
      await attempt(bob, "react", { room: "r", seq: 999, emoji: "👍" }),
      "message_not_found",
    );
    const doomed = await say(ada, "r", "soon gone");
    await ada.request("delete", { room: "r", seq: doomed.seq });
    assert.equal(
      await attempt(bob, "react", { room: "r", seq: doomed.seq, emoji: "👍" }),
      "message_not_found",
    );

    // At most 20 distinct emoji on one message.
    const busy = await say(ada, "r", "so many");
    const emoji = [..."😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂🤗"];
    for (const e of emoji.slice(0, LIMITS.reactionsPerMessage)) {
      await ada.request("react", { room: "r", seq: busy.seq, emoji: e });
    }
    assert.equal(
      await attempt(bob, "react", { room: "r", seq: busy.seq, emoji: emoji.at(-1)! }),
      "too_many_reactions",
    );
    // One already there still takes more people.
    await bob.request("react", { room: "r", seq: busy.seq, emoji: emoji[0]! });
  } finally {
    await ada.close();
    await bob.close();
    await server.close();
  }
});

Deno.test("reactions: who may react (members, announcement members, not outsiders, guests where they post, not while muted)", async () => {
  const server = await startServer({ ...ROOMY, guests: true });
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  const visitor = await guest(server);
  try {
    await ada.request("room.create", { room: "news", kind: "announcement" });
    await ada.request("room.create", { room: "pub" });
    await ada.request("room.create", { room: "priv", kind: "private" });
    for (const room of ["news", "pub", "priv"]) await ada.request("room.join", { room });
    const news = await say(ada, "news", "big news");
    const pub = await say(ada, "pub", "hello all");
    const priv = await say(ada, "priv", "between us");

    // Not joined: join first, as for send.
    assert.equal(
      await attempt(bob, "react", { room: "pub", seq: pub.seq, emoji: "👍" }),
      "not_joined",
    );
    assert.equal(
      await attempt(bob, "react", { room: "priv", seq: priv.seq, emoji: "👍" }),
      "not_joined",
    );
    assert.equal(await attempt(bob, "room.join", { room: "priv" }), "forbidden");

    // A member of an announcement room may not post there, but may react.
    await bob.request("room.join", { room: "news" });
    assert.equal(
      await attempt(bob, "send", { room: "news", text: "x", nonce: nonce() }),
      "forbidden",
    );
    await bob.request("react", { room: "news", seq: news.seq, emoji: "🎉" });

    // Guests react where they may post: public rooms, not announcement ones.
    await visitor.request("room.join", { room: "pub" });
    await visitor.request("room.join", { room: "news" });
    await visitor.request("react", { room: "pub", seq: pub.seq, emoji: "👋" });
    assert.equal(
      await attempt(visitor, "react", { room: "news", seq: news.seq, emoji: "👋" }),
      "forbidden",
    );

    // A muted member may take a reaction back, not add one.
    await bob.request("room.join", { room: "pub" });
    await bob.request("react", { room: "pub", seq: pub.seq, emoji: "👍" });
    await ada.request("room.mute", { room: "pub", user: bob.user.id, minutes: 5 });
    const muted = await bob.requestRaw({
      type: "react",
      room: "pub",
      seq: pub.seq,
      emoji: "❤️",
    });
    assert.ok("error" in muted);
    assert.equal(muted.error.code, "forbidden");
    assert.ok((muted.error.retryAfterMs ?? 0) > 0);
    await bob.request("react", { room: "pub", seq: pub.seq, emoji: "👍", remove: true });
  } finally {
    await ada.close();
    await bob.close();
    await visitor.close();
    await server.close();
  }
});

Deno.test("reactions: a client that reconnects with `after` recovers the react entries", async () => {
  const server = await startServer(ROOMY);
  const ada = await TestClient.connect(server, "ada");
  const cy = await signIn(server, "cy");
  let cyClient = await TestClient.open(server, cy);
  try {
    await ada.request("room.create", { room: "r" });
    await ada.request("room.join", { room: "r" });
    await cyClient.request("room.join", { room: "r" });
    const pushed = cyClient.next((f) => f.type === "message" && f.message.kind === "text");
    const original = await say(ada, "r", "while you were away");
    await pushed;
    const seen = original.seq;
    const epoch = server.app.store.epoch;
    await cyClient.close();

    await ada.request("react", { room: "r", seq: original.seq, emoji: "🔥" });
    await ada.request("react", { room: "r", seq: original.seq, emoji: "👀" });
    await ada.request("react", { room: "r", seq: original.seq, emoji: "🔥", remove: true });

    cyClient = await TestClient.open(server, cy);
    const back = await cyClient.request("room.join", { room: "r", after: seen, epoch });
    assert.equal(back.recovered, true);
    const reacts = back.messages.filter((m) => m.kind === "react");
    assert.deepEqual(reacts.map((m) => [m.emoji, m.remove ?? false]), [
      ["🔥", false],
      ["👀", false],
      ["🔥", true],
    ]);
    assert.ok(reacts.every((m) => m.target === original.seq));
  } finally {
    await ada.close();
    await cyClient.close();
    await server.close();
  }
});

Deno.test("replies: quote the original; missing, deleted, other rooms' and non-text targets are message_not_found", async () => {
  const server = await startServer(ROOMY);
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  try {
    await ada.request("room.create", { room: "r" });
    await ada.request("room.create", { room: "other" });
    await ada.request("room.join", { room: "r" });
    await ada.request("room.join", { room: "other" });
    await bob.request("room.join", { room: "r" });
    const long = "🙂".repeat(150); // 300 UTF-16 units: the excerpt must not split a pair
    const original = await say(ada, "r", long);
    const atAda = ada.next((f) => f.type === "message" && f.message.replyTo !== undefined);
    const reply = await say(bob, "r", "indeed", { replyTo: original.seq });
    assert.equal(reply.replyTo?.seq, original.seq);
    assert.deepEqual(reply.replyTo?.author, ada.user);
    assert.equal(reply.replyTo?.text, "🙂".repeat(LIMITS.replyExcerptChars / 2));
    assert.deepEqual((await atAda as { message: Message }).message.replyTo, reply.replyTo);
    // History keeps the quote.
    assert.deepEqual(
      textOf((await ada.request("history", { room: "r" })).messages, reply.seq).replyTo,
      reply.replyTo,
    );

    const replyTo = async (client: TestClient, room: string, seq: number) =>
      await attempt(client, "send", { room, text: "re", nonce: nonce(), replyTo: seq });
    assert.equal(await replyTo(bob, "r", 999), "message_not_found");
    const doomed = await say(ada, "r", "deleted soon");
    await ada.request("delete", { room: "r", seq: doomed.seq });
    assert.equal(await replyTo(bob, "r", doomed.seq), "message_not_found");
    const { message: reaction } = await bob.request("react", {
      room: "r",
      seq: original.seq,
      emoji: "👍",
    });
    assert.equal(await replyTo(bob, "r", reaction.seq), "message_not_found");
    // A seq that exists only in another room.
    for (let i = 0; i < 10; i++) await say(ada, "other", `filler ${i}`);
    const { room } = await ada.request("room.join", { room: "r" });
    assert.equal(await replyTo(ada, "r", room.lastSeq + 5), "message_not_found");

    // No text needs a file.
    assert.equal(await attempt(ada, "send", { room: "r", nonce: nonce() }), "text_empty");
    assert.equal(
      await attempt(ada, "send", { room: "r", nonce: nonce(), file: "no-such-file" }),
      "file_not_found",
    );
    // An edit keeps the quote.
    await bob.request("edit", { room: "r", seq: reply.seq, text: "indeed!" });
    const edited = textOf((await bob.request("history", { room: "r" })).messages, reply.seq);
    assert.deepEqual(edited.replyTo, reply.replyTo);
  } finally {
    await ada.close();
    await bob.close();
    await server.close();
  }
});

Deno.test("files in messages: only the uploader attaches, only in the room it was uploaded to", async () => {
  const server = await startServer(ROOMY);
  const adaId = await signIn(server, "ada");
  const ada = await TestClient.open(server, adaId);
  const bob = await TestClient.connect(server, "bob");
  try {
    await ada.request("room.create", { room: "r" });
    await ada.request("room.create", { room: "other" });
    for (const room of ["r", "other"]) await ada.request("room.join", { room });
    await bob.request("room.join", { room: "r" });
    const uploaded = await fetch(`${server.url}/api/rooms/r/files?name=notes.txt`, {
      method: "POST",
      headers: { cookie: adaId.cookie, origin: server.url },
      body: "some notes",
    });
    assert.equal(uploaded.status, 201);
    const { file } = await uploaded.json();
    const attach = (client: TestClient, room: string) =>
      attempt(client, "send", { room, nonce: nonce(), file: file.id });
    assert.equal(await attach(bob, "r"), "file_not_found");
    assert.equal(await attach(ada, "other"), "file_not_found");
    const sent = await ada.request("send", { room: "r", nonce: nonce(), file: file.id });
    assert.equal(sent.message.text, "");
    assert.deepEqual(sent.message.file, file);
  } finally {
    await ada.close();
    await bob.close();
    await server.close();
  }
});

Deno.test("mentions: only real users, @room only from moderators, counted unread until read", async () => {
  const server = await startServer(ROOMY);
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "Bob");
  const cy = await TestClient.connect(server, "cy");
  try {
    await ada.request("room.create", { room: "r" });
    await ada.request("room.join", { room: "r" });
    await bob.request("room.join", { room: "r" });
    await cy.request("room.join", { room: "r" });

    const fromOwner = await say(ada, "r", "hi @bob, @BOB and @nobody; mail me at x@cy.org @room");
    assert.deepEqual(fromOwner.mentions, ["bob", "room"]);
    const fromMember = await say(bob, "r", "@room listen: @ada. and @cy-");
    assert.deepEqual(fromMember.mentions, ["ada", "cy"]);
    const plain = await say(cy, "r", "no one");
    assert.equal(plain.mentions, undefined);

    const mentionsOf = async (client: TestClient) =>
      (await client.request("room.list", {})).rooms.find((r) => r.name === "r")!.mentions;
    assert.equal(await mentionsOf(bob), 1); // ada's; his own does not count
    assert.equal(await mentionsOf(cy), 2); // @room from ada, @cy from bob
    assert.equal(await mentionsOf(ada), 1); // @ada from bob
    const joined = await cy.request("room.join", { room: "r" });
    assert.equal(joined.room.mentions, 2);

    // Reading past them resets the count.
    await cy.request("read", { room: "r", seq: fromMember.seq });
    assert.equal(await mentionsOf(cy), 0);
    assert.equal(await mentionsOf(bob), 1);
    await bob.request("read", { room: "r", seq: plain.seq });
    assert.equal(await mentionsOf(bob), 0);

    // An edit keeps the mentions the message was sent with.
    await bob.request("edit", { room: "r", seq: fromMember.seq, text: "never mind @cy" });
    const edited = textOf((await bob.request("history", { room: "r" })).messages, fromMember.seq);
    assert.deepEqual(edited.mentions, ["ada", "cy"]);

    // A moderator (not only the owner) may mention the room.
    await ada.request("room.role", { room: "r", user: cy.user.id, role: "moderator" });
    assert.deepEqual((await say(cy, "r", "@room hello")).mentions, ["room"]);
  } finally {
    await ada.close();
    await bob.close();
    await cy.close();
    await server.close();
  }
});

Deno.test("search: only the caller's rooms, filters, threads, paging and its errors", async () => {
  const server = await startServer(ROOMY);
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  try {
    await ada.request("room.create", { room: "a" });
    await ada.request("room.create", { room: "shared" });
    await bob.request("room.create", { room: "secret", kind: "private" });
    await bob.request("room.create", { room: "bobs" });
    for (const room of ["a", "shared"]) await ada.request("room.join", { room });
    for (const room of ["shared", "secret", "bobs"]) await bob.request("room.join", { room });

    const inA = await say(ada, "a", "Deploy the Rocket today");
    await new Promise((r) => setTimeout(r, 5));
    const inShared = await say(bob, "shared", "the rocket is ready");
    await say(bob, "secret", "rocket launch codes");
    await say(bob, "bobs", "rocket in bob's room");
    await new Promise((r) => setTimeout(r, 5));
    const root = await say(ada, "shared", "thread root about rockets");
    const r1 = await say(bob, "shared", "first rocket reply", { replyTo: root.seq });
    const r2 = await say(ada, "shared", "second reply", { replyTo: root.seq });

    // Ada sees her rooms only: never bob's private or other rooms.
    let page = await ada.request("search", { text: "ROCKET" });
    assert.deepEqual(page.messages.map((m) => [m.room, m.seq]), [
      ["shared", r1.seq],
      ["shared", inShared.seq],
      ["a", inA.seq],
    ]);
    assert.equal(page.next, undefined);
    page = await bob.request("search", { text: "rocket" });
    assert.deepEqual(page.messages.map((m) => m.room).sort(), [
      "bobs",
      "secret",
      "shared",
      "shared",
    ]);

    // Filters: room, author, time, a thread.
    page = await ada.request("search", { text: "rocket", room: "a" });
    assert.deepEqual(page.messages.map((m) => m.seq), [inA.seq]);
    page = await ada.request("search", { text: "rocket", author: bob.user.id });
    assert.deepEqual(page.messages.map((m) => m.seq), [r1.seq, inShared.seq]);
    page = await ada.request("search", { text: "rocket", from: inA.ts + 1, to: r1.ts });
    assert.deepEqual(page.messages.map((m) => m.seq), [inShared.seq]);
    page = await ada.request("search", { room: "shared", replyTo: root.seq });
    assert.deepEqual(page.messages.map((m) => m.seq), [r2.seq, r1.seq]);

    // Errors: a room not joined, no such room, a thread without its room, a bad cursor.
    assert.equal(await attempt(ada, "search", { text: "rocket", room: "secret" }), "forbidden");
    assert.equal(await attempt(ada, "search", { text: "rocket", room: "bobs" }), "forbidden");
    assert.equal(await attempt(ada, "search", { text: "x", room: "nowhere" }), "room_not_found");
    assert.equal(await attempt(ada, "search", { replyTo: root.seq }), "invalid_frame");
    assert.equal(
      await attempt(ada, "search", { text: "x", cursor: "not a cursor" }),
      "invalid_frame",
    );
    // Only punctuation: nothing to find.
    assert.deepEqual((await bob.request("search", { text: "!!!" })).messages, []);

    // Paging: newest first, `next` until the last page.
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const next: { text: string; limit: number; cursor?: string } = {
        text: "rocket",
        limit: 1,
        ...(cursor ? { cursor } : {}),
      };
      page = await bob.request("search", next);
      seen.push(...page.messages.map((m) => m.seq));
      cursor = page.next;
    } while (cursor);
    assert.equal(seen.length, 4);

    // Leaving a room takes it out of what one may search.
    await ada.request("room.leave", { room: "a" });
    page = await ada.request("search", { text: "deploy" });
    assert.deepEqual(page.messages, []);
  } finally {
    await ada.close();
    await bob.close();
    await server.close();
  }
});

Deno.test("search: each user has a budget of searches", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  try {
    let code = "ok";
    for (let i = 0; i < 30 && code === "ok"; i++) {
      code = await attempt(ada, "search", { text: "x" });
    }
    assert.equal(code, "rate_limited");
  } finally {
    await ada.close();
    await server.close();
  }
});

Deno.test("room.directory: public and announcement rooms by member count, with query and paging; never private, dm or disabled", async () => {
  const server = await startServer(ROOMY);
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  const cy = await TestClient.connect(server, "cy");
  try {
    await ada.request("room.create", { room: "big", topic: "Everyone is here" });
    await ada.request("room.create", { room: "news", kind: "announcement", title: "Newsroom" });
    await ada.request("room.create", { room: "hidden", kind: "private", topic: "everyone" });
    await ada.request("room.create", { room: "off" });
    await ada.request("dm.open", { user: bob.user.id });
    for (const c of [bob, cy]) await c.request("room.join", { room: "big" });
    await bob.request("room.join", { room: "news" });
    const disabled = await fetch(`${server.url}/api/admin/rooms/off`, {
      method: "PATCH",
      headers: {
        "content-type": "application/json",
        origin: server.url,
        cookie: (await login(server)).cookie,
      },
      body: JSON.stringify({ disabled: true }),
    });
    assert.equal(disabled.status, 200);

    const all = await cy.request("room.directory", {});
    assert.deepEqual(all.rooms.map((r) => [r.name, r.members]), [
      ["big", 3],
      ["news", 2],
      ["general", 0],
    ]);
    assert.deepEqual(all.rooms.map((r) => r.member), [true, false, false]);
    assert.equal(all.next, undefined);

    const found = await cy.request("room.directory", { query: "EVERYONE" });
    assert.deepEqual(found.rooms.map((r) => r.name), ["big"]);
    const byTitle = await cy.request("room.directory", { query: "newsr" });
    assert.deepEqual(byTitle.rooms.map((r) => r.name), ["news"]);

    const first = await cy.request("room.directory", { limit: 2 });
    assert.deepEqual(first.rooms.map((r) => r.name), ["big", "news"]);
    assert.ok(first.next);
    const second = await cy.request("room.directory", { limit: 2, cursor: first.next });
    assert.deepEqual(second.rooms.map((r) => r.name), ["general"]);
    assert.equal(second.next, undefined);
    assert.equal(await attempt(cy, "room.directory", { cursor: "%%%" }), "invalid_frame");
    assert.equal(await attempt(cy, "room.directory", { cursor: btoa("[1]") }), "invalid_frame");
  } finally {
    for (const c of [ada, bob, cy]) await c.close();
    await server.close();
  }
});

async function login(server: TestServer) {
  const response = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  await response.body?.cancel();
  return { cookie: response.headers.get("set-cookie")!.split(";")[0]! };
}
