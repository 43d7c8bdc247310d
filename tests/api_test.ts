/** The bot API end to end: keys issued by an admin, their scope, revocation, and the room rules. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Member, Message, RoomInfo, RoomMember } from "../protocol/messages.ts";
import {
  type RequestFailed,
  ROOT,
  signIn,
  startServer,
  TestClient,
  type TestServer,
} from "./helpers.ts";

/** The fields these tests read from API answers; absent ones are undefined at run time. */
interface ApiBody {
  error: { code: string; message: string; permission?: string; retryAfterMs?: number };
  id: string;
  key: string;
  name: string;
  rooms: RoomInfo[];
  actions: string[];
  user: Member;
  keys: Record<string, unknown>[];
  message: Message;
  duplicate: boolean;
  messages: Message[];
  hasMore: boolean;
  room: RoomInfo;
  members: RoomMember[];
}

interface Call {
  key?: string;
  cookie?: string;
  body?: unknown;
}

async function call(
  server: TestServer,
  method: string,
  path: string,
  { key, cookie, body }: Call = {},
): Promise<{ status: number; body: ApiBody; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (cookie) Object.assign(headers, { cookie, origin: server.url });
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

async function adminCookie(server: TestServer): Promise<string> {
  const response = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  assert.equal(response.status, 200, await response.text());
  return response.headers.get("set-cookie")!.split(";")[0]!;
}

async function issueKey(
  server: TestServer,
  cookie: string,
  spec: { name: string; rooms: string[]; actions: string[] },
): Promise<{ id: string; key: string; user: Member }> {
  const { status, body } = await call(server, "POST", "/api/admin/keys", { cookie, body: spec });
  assert.equal(status, 201, JSON.stringify(body));
  return { id: body.id, key: body.key, user: body.user };
}

function refused(
  answer: { status: number; body: ApiBody },
  status: number,
  code: string,
  permission?: string,
): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error.code, code, answer.body.error.message);
  if (permission !== undefined) assert.equal(answer.body.error.permission, permission);
}

Deno.test("api: an admin issues scoped keys; only the hash is stored; the scope is enforced", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  try {
    const root = await adminCookie(server);
    const spec = { name: "helper", rooms: ["general"], actions: ["post", "read"] };
    refused(await call(server, "POST", "/api/admin/keys", { body: spec }), 401, "unauthorized");
    const { cookie: adaCookie } = await signIn(server, "ada");
    refused(
      await call(server, "POST", "/api/admin/keys", { cookie: adaCookie, body: spec }),
      403,
      "forbidden",
    );
    refused(
      await call(server, "POST", "/api/admin/keys", {
        cookie: root,
        body: { ...spec, actions: ["fly"] },
      }),
      400,
      "bad_request",
    );

    const { id, key, user } = await issueKey(server, root, spec);
    assert.match(key, /^pk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.ok(key.startsWith(`pk_${id}_`));
    assert.deepEqual(user, { id: `bot:${id}`, name: "helper" });
    // The store holds the key's SHA-256 and nothing that reveals the key itself.
    const stored = JSON.stringify(await server.app.hub.store.apiKeys.list());
    assert.ok(!stored.includes(key.slice(20)), "the secret is not stored");
    assert.ok(stored.includes(createHash("sha256").update(key).digest("hex")));
    const listed = await call(server, "GET", "/api/admin/keys", { cookie: root });
    assert.equal(listed.status, 200);
    assert.equal(listed.body.keys.length, 1);
    assert.equal(listed.body.keys[0]!.key, undefined);
    assert.equal(listed.body.keys[0]!.hash, undefined);
    assert.deepEqual(listed.body.keys[0]!.rooms, ["general"]);

    // In scope: post and read, and people see the bot's message live.
    await ada.request("room.join", { room: "general" });
    const pushed = ada.next((f) => f.type === "message" && f.message.author.id === user.id);
    const posted = await call(server, "POST", "/api/v1/rooms/general/messages", {
      key,
      body: { text: "hello from a bot", nonce: "bot-nonce-1" },
    });
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    assert.equal(posted.body.message.text, "hello from a bot");
    assert.deepEqual(posted.body.message.author, user);
    assert.equal(
      await pushed.then((f) => f.type === "message" && f.message.seq),
      posted.body.message.seq,
    );
    const again = await call(server, "POST", "/api/v1/rooms/general/messages", {
      key,
      body: { text: "hello from a bot", nonce: "bot-nonce-1" },
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.message.seq, posted.body.message.seq);
    const history = await call(server, "GET", "/api/v1/rooms/general/messages", { key });
    assert.equal(history.status, 200);
    assert.deepEqual(history.body.messages.map((m) => m.text), ["hello from a bot"]);
    const me = await call(server, "GET", "/api/v1/me", { key });
    assert.deepEqual(me.body.user, user);
    const rooms = await call(server, "GET", "/api/v1/rooms", { key });
    assert.deepEqual(rooms.body.rooms.map((r) => r.name), ["general"]);

    // Out of scope: another room, and every action it was not given.
    await ada.request("room.create", { room: "side" });
    refused(
      await call(server, "POST", "/api/v1/rooms/side/messages", { key, body: { text: "hi" } }),
      403,
      "forbidden",
      "key:room",
    );
    refused(
      await call(server, "GET", "/api/v1/rooms/side/messages", { key }),
      403,
      "forbidden",
      "key:room",
    );
    refused(
      await call(server, "POST", "/api/v1/rooms", { key, body: { room: "general" } }),
      403,
      "forbidden",
      "key:rooms",
    );
    refused(
      await call(server, "PUT", "/api/v1/rooms/general/members/ada", { key }),
      403,
      "forbidden",
      "key:members",
    );
    refused(
      await call(server, "POST", "/api/v1/rooms/general/bans", { key, body: { user: "ada" } }),
      403,
      "forbidden",
      "key:moderate",
    );
    refused(
      await call(server, "POST", "/api/v1/rooms/general/messages", { key, body: { text: " " } }),
      400,
      "bad_request",
    );

    // No key, a session instead of a key, a wrong secret: all unauthorized.
    refused(await call(server, "GET", "/api/v1/me"), 401, "unauthorized");
    refused(await call(server, "GET", "/api/v1/me", { cookie: root }), 401, "unauthorized");
    const forged = key.slice(0, -4) + (key.endsWith("AAAA") ? "BBBB" : "AAAA");
    refused(await call(server, "GET", "/api/v1/me", { key: forged }), 401, "unauthorized");
  } finally {
    await ada.close();
    await server.close();
  }
});

Deno.test("api: a revoked key is refused at once, and its bot leaves the member list", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  try {
    const root = await adminCookie(server);
    const { id, key, user } = await issueKey(server, root, {
      name: "shortlived",
      rooms: ["*"],
      actions: ["post", "read"],
    });
    const posted = await call(server, "POST", "/api/v1/rooms/general/messages", {
      key,
      body: { text: "still here" },
    });
    assert.equal(posted.status, 201);
    await ada.request("room.join", { room: "general" });
    const before = await ada.request("room.members", { room: "general" });
    assert.ok(before.members.some((m) => m.user.id === user.id));

    const revoked = await call(server, "DELETE", `/api/admin/keys/${id}`, { cookie: root });
    assert.equal(revoked.status, 204);
    refused(await call(server, "GET", "/api/v1/me", { key }), 401, "unauthorized");
    refused(
      await call(server, "POST", "/api/v1/rooms/general/messages", { key, body: { text: "x" } }),
      401,
      "unauthorized",
    );
    refused(
      await call(server, "DELETE", `/api/admin/keys/${id}`, { cookie: root }),
      404,
      "not_found",
    );
    const listed = await call(server, "GET", "/api/admin/keys", { cookie: root });
    assert.deepEqual(listed.body.keys, []);
    const after = await ada.request("room.members", { room: "general" });
    assert.ok(!after.members.some((m) => m.user.id === user.id));
  } finally {
    await ada.close();
    await server.close();
  }
});

Deno.test("api: bots meet the same room rules as people", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  try {
    const root = await adminCookie(server);
    const { key, user } = await issueKey(server, root, {
      name: "janitor",
      rooms: ["*"],
      actions: ["post", "read", "rooms", "members", "moderate"],
    });

    // An announcement room: the bot may join, but only moderators post.
    await ada.request("room.create", { room: "news", kind: "announcement" });
    refused(
      await call(server, "POST", "/api/v1/rooms/news/messages", { key, body: { text: "hi" } }),
      403,
      "forbidden",
      "send",
    );
    // A private room: closed until someone invites the bot, as for anyone.
    await ada.request("room.create", { room: "secret", kind: "private" });
    refused(
      await call(server, "GET", "/api/v1/rooms/secret/messages", { key }),
      403,
      "forbidden",
      "room.join",
    );
    await ada.request("room.invite", { room: "secret", user: user.id });
    const inside = await call(server, "POST", "/api/v1/rooms/secret/messages", {
      key,
      body: { text: "thanks for the invitation" },
    });
    assert.equal(inside.status, 201, JSON.stringify(inside.body));
    // A plain member may not kick.
    await ada.request("room.join", { room: "general" });
    await call(server, "PUT", `/api/v1/rooms/general/members/${user.id}`, { key });
    refused(
      await call(server, "DELETE", "/api/v1/rooms/general/members/ada", { key }),
      403,
      "forbidden",
      "kick",
    );
    refused(
      await call(server, "GET", "/api/v1/rooms/nowhere/messages", { key }),
      404,
      "room_not_found",
    );
    refused(
      await call(server, "PUT", "/api/v1/rooms/general/members/nobody-at-all", { key }),
      404,
      "user_not_found",
    );

    // Its own room: the bot owns it and moderates it.
    const created = await call(server, "POST", "/api/v1/rooms", {
      key,
      body: { room: "bots", topic: "Where bots live" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.room.role, "owner");
    refused(
      await call(server, "POST", "/api/v1/rooms", { key, body: { room: "bots" } }),
      409,
      "room_exists",
    );
    assert.equal(
      (await call(server, "PUT", "/api/v1/rooms/bots/members/ada", { key })).status,
      204,
    );
    await ada.request("room.join", { room: "bots" });
    const removed = ada.next((f) => f.type === "room.removed" && f.room === "bots");
    const banned = await call(server, "POST", "/api/v1/rooms/bots/bans", {
      key,
      body: { user: "ada", minutes: 5, reason: "testing" },
    });
    assert.equal(banned.status, 204, JSON.stringify(banned.body));
    assert.equal((await removed).type, "room.removed");
    await assert.rejects(
      ada.request("room.join", { room: "bots" }),
      (error: RequestFailed) => error.code === "forbidden",
    );
    assert.equal(
      (await call(server, "DELETE", "/api/v1/rooms/bots/bans/ada", { key })).status,
      204,
    );
    await ada.request("room.join", { room: "bots" });
    const kicked = ada.next((f) => f.type === "room.removed" && f.room === "bots");
    const kick = await call(server, "DELETE", "/api/v1/rooms/bots/members/ada?reason=tidy", {
      key,
    });
    assert.equal(kick.status, 204, JSON.stringify(kick.body));
    await kicked;

    // History pages, as the protocol gives them.
    for (let i = 1; i <= 5; i++) {
      const sent = await call(server, "POST", "/api/v1/rooms/bots/messages", {
        key,
        body: { text: `line ${i}` },
      });
      assert.equal(sent.status, 201);
    }
    const latest = await call(server, "GET", "/api/v1/rooms/bots/messages?limit=2", { key });
    assert.deepEqual(latest.body.messages.map((m) => m.text), ["line 4", "line 5"]);
    assert.equal(latest.body.hasMore, true);
    const earlier = await call(
      server,
      "GET",
      `/api/v1/rooms/bots/messages?limit=2&before=${latest.body.messages[0]!.seq}`,
      { key },
    );
    assert.deepEqual(earlier.body.messages.map((m) => m.text), ["line 2", "line 3"]);
    refused(
      await call(server, "GET", "/api/v1/rooms/bots/messages?limit=0", { key }),
      400,
      "invalid_request",
    );

    // Edits and deletes of its own messages; members listed for a reader.
    const last = latest.body.messages[1]!;
    const edited = await call(server, "PATCH", `/api/v1/rooms/bots/messages/${last.seq}`, {
      key,
      body: { text: "line five" },
    });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.message.kind, "edit");
    const deleted = await call(server, "DELETE", `/api/v1/rooms/bots/messages/${last.seq}`, {
      key,
    });
    assert.equal(deleted.body.message.kind, "delete");
    const members = await call(server, "GET", "/api/v1/rooms/bots/members", { key });
    assert.deepEqual(members.body.members.map((m) => m.user.id), [user.id]);
  } finally {
    await ada.close();
    await server.close();
  }
});

Deno.test("api: each key is rate-limited", async () => {
  const server = await startServer();
  try {
    const root = await adminCookie(server);
    const { key } = await issueKey(server, root, {
      name: "chatty",
      rooms: ["*"],
      actions: ["read"],
    });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 45; i++) {
      const answer = await call(server, "GET", "/api/v1/me", { key });
      statuses.push(answer.status);
      if (answer.status === 429) {
        retryAfter = answer.headers.get("retry-after");
        assert.equal(answer.body.error.code, "rate_limited");
      }
    }
    assert.ok(statuses.slice(0, 30).every((s) => s === 200), statuses.join(","));
    assert.ok(statuses.includes(429), statuses.join(","));
    assert.ok(Number(retryAfter) >= 1);
  } finally {
    await server.close();
  }
});

Deno.test("api: GET /api/openapi.json describes every route, with resolvable schemas", async () => {
  const server = await startServer();
  try {
    const response = await fetch(`${server.url}/api/openapi.json`);
    assert.equal(response.status, 200);
    const doc = await response.json() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    assert.equal(doc.openapi, "3.1.0");
    for (
      const path of [
        "/api/admin/keys",
        "/api/admin/keys/{id}",
        "/api/admin/webhooks",
        "/api/admin/webhooks/{id}/deliveries",
        "/api/v1/rooms",
        "/api/v1/rooms/{room}/messages",
        "/api/v1/rooms/{room}/members/{user}",
        "/api/v1/rooms/{room}/bans",
      ]
    ) assert.ok(doc.paths[path], path);
    assert.ok(doc.components.schemas.Message?.properties?.seq);
    assert.ok(doc.components.schemas.WebhookPayload);
    // Every $ref points at something that exists.
    const text = JSON.stringify(doc);
    for (const [, target] of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      let node: unknown = doc;
      for (const part of target!.split("/")) node = (node as Record<string, unknown>)?.[part];
      assert.ok(node, `dangling $ref ${target}`);
    }
  } finally {
    await server.close();
  }
});
