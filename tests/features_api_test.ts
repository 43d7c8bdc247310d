/**
 * Reactions, replies, mentions, search, threads and the directory through the bot API,
 * and the webhooks that carry them: a real server on port 0 and a real receiver.
 */
import assert from "node:assert/strict";
import type { FileRef, Message, RoomInfo } from "../protocol/messages.ts";
import { signature } from "../server/webhooks.ts";
import { eventually, ROOT, signIn, startServer, TestClient, type TestServer } from "./helpers.ts";

interface ApiBody {
  error: { code: string; message: string; permission?: string };
  file: FileRef;
  id: string;
  key: string;
  message: Message;
  messages: Message[];
  next?: string;
  rooms: RoomInfo[];
}

async function call(
  server: TestServer,
  method: string,
  path: string,
  { key, cookie, body }: { key?: string; cookie?: string; body?: unknown } = {},
): Promise<{ status: number; body: ApiBody }> {
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
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

async function adminCookie(server: TestServer): Promise<string> {
  const response = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  await response.body?.cancel();
  return response.headers.get("set-cookie")!.split(";")[0]!;
}

async function issueKey(
  server: TestServer,
  cookie: string,
  spec: { name: string; rooms: string[]; actions: string[] },
): Promise<string> {
  const { status, body } = await call(server, "POST", "/api/admin/keys", { cookie, body: spec });
  assert.equal(status, 201, JSON.stringify(body));
  return body.key;
}

function refused(
  answer: { status: number; body: ApiBody },
  status: number,
  code: string,
  permission?: string,
): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error.code, code);
  if (permission) assert.equal(answer.body.error.permission, permission);
}

interface Delivered {
  event: string;
  message: Message;
  verified: boolean;
}

/** A webhook endpoint on port 0 that records what it is sent. */
function receiver(secret: string) {
  const received: Delivered[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const body = await request.text();
    const timestamp = request.headers.get("x-parley-timestamp") ?? "";
    const payload = JSON.parse(body);
    received.push({
      event: request.headers.get("x-parley-event") ?? "",
      message: payload.message,
      verified: request.headers.get("x-parley-signature") === signature(secret, timestamp, body) &&
        payload.event === request.headers.get("x-parley-event"),
    });
    return new Response("ok");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    close: () => server.shutdown(),
  };
}

const SECRET = "a-test-secret-that-is-long-enough";
const ROOMY = { messageRate: { perSecond: 100, burst: 200 } };
let nonces = 0;

async function setup(overrides: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer({ ...ROOMY, ...overrides });
  const root = await adminCookie(server);
  const ada = await TestClient.connect(server, "ada");
  await ada.request("room.create", { room: "pub" });
  await ada.request("room.create", { room: "news", kind: "announcement" });
  await ada.request("room.create", { room: "priv", kind: "private" });
  await ada.request("room.create", { room: "elsewhere" });
  for (const room of ["pub", "news", "priv", "elsewhere"]) {
    await ada.request("room.join", { room });
  }
  const say = async (room: string, text: string, extra = {}) =>
    (await ada.request("send", { room, text, nonce: `nonce-${++nonces}-api`, ...extra }))
      .message;
  const bot = await issueKey(server, root, {
    name: "helper",
    rooms: ["pub", "news", "priv"],
    actions: ["post", "read"],
  });
  return { server, root, ada, say, bot };
}

Deno.test("bot API: react and take back, with scope, permissions and errors; webhooks get message.reacted", async () => {
  const { server, root, ada, say, bot } = await setup();
  const hook = receiver(SECRET);
  try {
    const added = await call(server, "POST", "/api/admin/webhooks", {
      cookie: root,
      body: { url: hook.url, room: "pub", secret: SECRET },
    });
    assert.equal(added.status, 201);
    const original = await say("pub", "react, bot");
    const path = (room: string, seq: number, emoji: string) =>
      `/api/v1/rooms/${room}/messages/${seq}/reactions/${encodeURIComponent(emoji)}`;

    const pushed = ada.next((f) => f.type === "message" && f.message.kind === "react");
    const put = await call(server, "PUT", path("pub", original.seq, "👍"), { key: bot });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.message.kind, "react");
    assert.equal(put.body.message.target, original.seq);
    assert.equal(put.body.message.emoji, "👍");
    assert.deepEqual((await pushed as { message: Message }).message, put.body.message);
    const history = await call(server, "GET", "/api/v1/rooms/pub/messages", { key: bot });
    const shown = history.body.messages.find((m) => m.seq === original.seq)!;
    assert.deepEqual(shown.reactions?.map((r) => [r.emoji, r.users.length]), [["👍", 1]]);

    const taken = await call(server, "DELETE", path("pub", original.seq, "👍"), { key: bot });
    assert.equal(taken.status, 200);
    assert.equal(taken.body.message.remove, true);

    // Announcement rooms: a member (the bot) may react though it may not post.
    const news = await say("news", "news!");
    assert.equal(
      (await call(server, "PUT", path("news", news.seq, "🎉"), { key: bot })).status,
      200,
    );
    refused(
      await call(server, "POST", "/api/v1/rooms/news/messages", { key: bot, body: { text: "x" } }),
      403,
      "forbidden",
      "send",
    );
    // A private room it was not invited to; a room outside its key; an action it lacks.
    const priv = await say("priv", "private");
    refused(
      await call(server, "PUT", path("priv", priv.seq, "👍"), { key: bot }),
      403,
      "forbidden",
    );
    const other = await say("elsewhere", "out of scope");
    refused(
      await call(server, "PUT", path("elsewhere", other.seq, "👍"), { key: bot }),
      403,
      "forbidden",
      "key:room",
    );
    const reader = await issueKey(server, root, {
      name: "reader",
      rooms: ["*"],
      actions: ["read"],
    });
    refused(
      await call(server, "PUT", path("pub", original.seq, "👍"), { key: reader }),
      403,
      "forbidden",
      "key:post",
    );
    refused(
      await call(server, "PUT", path("pub", original.seq, "abc"), { key: bot }),
      400,
      "invalid_request",
    );
    refused(
      await call(server, "PUT", path("pub", 999, "👍"), { key: bot }),
      404,
      "message_not_found",
    );
    refused(await call(server, "PUT", path("pub", original.seq, "👍")), 401, "unauthorized");

    await eventually(() => hook.received.filter((r) => r.event === "message.reacted").length === 2);
    const reacted = hook.received.filter((r) => r.event === "message.reacted")
      .sort((a, b) => a.message.seq - b.message.seq);
    assert.ok(reacted.every((r) => r.verified));
    assert.deepEqual(reacted.map((r) => [r.message.emoji, r.message.remove ?? false]), [
      ["👍", false],
      ["👍", true],
    ]);
    assert.ok(reacted.every((r) => r.message.target === original.seq && r.message.room === "pub"));
  } finally {
    await ada.close();
    await hook.close();
    await server.close();
  }
});

Deno.test("bot API: replies, mentions and files on send; webhooks carry them", async () => {
  const { server, root, ada, say, bot } = await setup();
  const hook = receiver(SECRET);
  try {
    await call(server, "POST", "/api/admin/webhooks", {
      cookie: root,
      body: { url: hook.url, room: "pub", events: ["message.created"], secret: SECRET },
    });
    const original = await say("pub", "a question for the bot");
    const posted = await call(server, "POST", "/api/v1/rooms/pub/messages", {
      key: bot,
      body: { text: "an answer, @ada", replyTo: original.seq },
    });
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    assert.equal(posted.body.message.replyTo?.seq, original.seq);
    assert.equal(posted.body.message.replyTo?.text, "a question for the bot");
    assert.deepEqual(posted.body.message.mentions, ["ada"]);

    refused(
      await call(server, "POST", "/api/v1/rooms/pub/messages", {
        key: bot,
        body: { text: "to nothing", replyTo: 999 },
      }),
      404,
      "message_not_found",
    );
    refused(
      await call(server, "POST", "/api/v1/rooms/pub/messages", { key: bot, body: {} }),
      400,
      "text_empty",
    );
    refused(
      await call(server, "POST", "/api/v1/rooms/pub/messages", {
        key: bot,
        body: { file: "not-an-upload" },
      }),
      404,
      "file_not_found",
    );
    const answered = await call(server, "POST", "/api/v1/rooms/pub/messages", {
      key: bot,
      body: { text: "@nobody @room" },
    });
    assert.equal(answered.body.message.mentions, undefined, "@room only from moderators");

    await eventually(() => hook.received.length === 3);
    const reply = hook.received.find((r) => r.message.seq === posted.body.message.seq)!;
    assert.ok(reply.verified);
    assert.deepEqual(reply.message.replyTo, posted.body.message.replyTo);
    assert.deepEqual(reply.message.mentions, ["ada"]);
  } finally {
    await ada.close();
    await hook.close();
    await server.close();
  }
});

Deno.test("bot API: search, threads and the directory, within the key's rooms", async () => {
  const { server, root, ada, say, bot } = await setup();
  try {
    const inPub = await say("pub", "hello from pub");
    await say("elsewhere", "hello from elsewhere");
    await say("priv", "hello from priv");
    const root2 = await say("pub", "thread root");
    const r1 = await say("pub", "reply one", { replyTo: root2.seq });
    const r2 = await say("pub", "reply two", { replyTo: root2.seq });

    // Not a member of anything yet: nothing. With `room`, the bot joins, as for history.
    let found = await call(server, "GET", "/api/v1/search?text=hello", { key: bot });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body.messages, []);
    found = await call(server, "GET", "/api/v1/search?text=hello&room=pub", { key: bot });
    assert.deepEqual(found.body.messages.map((m) => m.seq), [inPub.seq]);
    // Now a member of pub; elsewhere (out of scope) and priv (not invited) stay unseen.
    found = await call(server, "GET", "/api/v1/search?text=HELLO", { key: bot });
    assert.deepEqual(found.body.messages.map((m) => [m.room, m.seq]), [["pub", inPub.seq]]);
    refused(
      await call(server, "GET", "/api/v1/search?text=hello&room=priv", { key: bot }),
      403,
      "forbidden",
    );
    refused(
      await call(server, "GET", "/api/v1/search?text=hello&room=elsewhere", { key: bot }),
      403,
      "forbidden",
      "key:room",
    );
    refused(
      await call(server, "GET", "/api/v1/search?limit=0", { key: bot }),
      400,
      "invalid_request",
    );
    refused(
      await call(server, "GET", "/api/v1/search?cursor=zzz", { key: bot }),
      400,
      "invalid_request",
    );
    refused(
      await call(server, "GET", "/api/v1/search?replyTo=1", { key: bot }),
      400,
      "invalid_request",
    );

    // A thread, a page at a time.
    const thread = `/api/v1/rooms/pub/messages/${root2.seq}/thread`;
    const first = await call(server, "GET", `${thread}?limit=1`, { key: bot });
    assert.deepEqual(first.body.messages.map((m) => m.seq), [r2.seq]);
    assert.ok(first.body.next);
    const second = await call(
      server,
      "GET",
      `${thread}?limit=1&cursor=${encodeURIComponent(first.body.next!)}`,
      { key: bot },
    );
    assert.deepEqual(second.body.messages.map((m) => m.seq), [r1.seq]);
    assert.equal(second.body.next, undefined);

    // The directory: open rooms within scope, with member counts.
    const listed = await call(server, "GET", "/api/v1/directory", { key: bot });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.rooms.map((r) => [r.name, r.members]), [["pub", 2], ["news", 1]]);
    const queried = await call(server, "GET", "/api/v1/directory?query=NEW", { key: bot });
    assert.deepEqual(queried.body.rooms.map((r) => r.name), ["news"]);
    refused(
      await call(server, "GET", "/api/v1/directory?limit=500", { key: bot }),
      400,
      "invalid_request",
    );
    const poster = await issueKey(server, root, {
      name: "poster",
      rooms: ["*"],
      actions: ["post"],
    });
    refused(
      await call(server, "GET", "/api/v1/directory", { key: poster }),
      403,
      "forbidden",
      "key:read",
    );
    refused(
      await call(server, "GET", "/api/v1/search?text=x", { key: poster }),
      403,
      "forbidden",
      "key:read",
    );
    refused(await call(server, "GET", "/api/v1/directory"), 401, "unauthorized");

    // The OpenAPI document describes the new routes.
    const doc = await (await fetch(`${server.url}/api/openapi.json`)).json();
    for (
      const path of [
        "/api/v1/search",
        "/api/v1/directory",
        "/api/v1/rooms/{room}/messages/{seq}/thread",
        "/api/v1/rooms/{room}/messages/{seq}/reactions/{emoji}",
      ]
    ) assert.ok(doc.paths[path], path);
  } finally {
    await ada.close();
    await server.close();
  }
});

/** POST the bytes to a bot's upload route. */
async function botUpload(
  server: TestServer,
  room: string,
  name: string,
  bytes: Uint8Array<ArrayBuffer>,
  key?: string,
  type?: string,
): Promise<{ status: number; body: ApiBody }> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (type) headers["content-type"] = type;
  const response = await fetch(
    `${server.url}/api/v1/rooms/${room}/files?name=${encodeURIComponent(name)}`,
    { method: "POST", headers, body: bytes },
  );
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

Deno.test("bot API: a bot uploads a file, posts it, and members download it; scope, rules and the cap", async () => {
  const CAP = 1024;
  const { server, root, ada, say, bot } = await setup({ maxUploadBytes: CAP });
  try {
    const bytes = new TextEncoder().encode("notes from a bot\n");
    // Any Content-Type: the body is bytes, and the type is sniffed, never taken.
    const up = await botUpload(server, "pub", "notes.txt", bytes, bot, "image/png");
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const file = up.body.file;
    assert.equal(file.name, "notes.txt");
    assert.equal(file.type, "text/plain");
    assert.equal(file.size, bytes.byteLength);

    // It posts the file; ada, a member, sees it and downloads it with her session.
    const pushed = ada.next((f) => f.type === "message" && f.message.file?.id === file.id);
    const posted = await call(server, "POST", "/api/v1/rooms/pub/messages", {
      key: bot,
      body: { file: file.id },
    });
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    assert.deepEqual(posted.body.message.file, file);
    assert.equal(posted.body.message.author.id.startsWith("bot:"), true);
    await pushed;
    const { cookie } = await signIn(server, "ada");
    const got = await fetch(`${server.url}/files/${file.id}/${file.name}`, { headers: { cookie } });
    assert.equal(got.status, 200);
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), bytes);
    // The bot downloads: its own file, and ada's in a room of its key it is a member of.
    const own = await fetch(`${server.url}/api/v1/files/${file.id}`, {
      headers: { authorization: `Bearer ${bot}` },
    });
    assert.equal(own.status, 200);
    assert.equal(own.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(new Uint8Array(await own.arrayBuffer()), bytes);
    const adaFile = async (room: string) => {
      const response = await fetch(`${server.url}/api/rooms/${room}/files?name=a.txt`, {
        method: "POST",
        headers: { cookie, origin: server.url },
        body: "from ada",
      });
      assert.equal(response.status, 201);
      return ((await response.json()) as { file: FileRef }).file;
    };
    const inPub = await adaFile("pub");
    const named = await fetch(`${server.url}/api/v1/files/${inPub.id}/a.txt`, {
      headers: { authorization: `Bearer ${bot}` },
    });
    assert.equal(await named.text(), "from ada");
    // Not for a room outside the key, nor one the bot is not in, nor an unknown id: all 404.
    await say("elsewhere", "a room of ada's");
    const inElsewhere = await adaFile("elsewhere");
    const inPriv = await adaFile("priv");
    for (const id of [inElsewhere.id, inPriv.id, "0".repeat(24)]) {
      refused(
        await call(server, "GET", `/api/v1/files/${id}`, { key: bot }),
        404,
        "file_not_found",
      );
    }
    const wide = await issueKey(server, root, { name: "wide", rooms: ["*"], actions: ["read"] });
    refused(
      await call(server, "GET", `/api/v1/files/${file.id}`, { key: wide }),
      404,
      "file_not_found",
    );
    refused(await call(server, "GET", `/api/v1/files/${file.id}`), 401, "unauthorized");
    const poster = await issueKey(server, root, {
      name: "poster",
      rooms: ["*"],
      actions: ["post"],
    });
    refused(
      await call(server, "GET", `/api/v1/files/${file.id}`, { key: poster }),
      403,
      "forbidden",
      "key:read",
    );

    // Refused uploads: a key without post, a room outside the key, the room's own rules.
    refused(await botUpload(server, "pub", "x.txt", bytes, wide), 403, "forbidden", "key:post");
    refused(
      await botUpload(server, "elsewhere", "x.txt", bytes, bot),
      403,
      "forbidden",
      "key:room",
    );
    const scoped = await issueKey(server, root, {
      name: "scoped",
      rooms: ["elsewhere"],
      actions: ["post", "read"],
    });
    refused(await botUpload(server, "pub", "x.txt", bytes, scoped), 403, "forbidden", "key:room");
    // In an announcement room the bot is a member, and members may not post there.
    refused(await botUpload(server, "news", "x.txt", bytes, bot), 403, "forbidden", "send");
    // A private room it was not invited to; a room that does not exist; no key at all.
    refused(await botUpload(server, "priv", "x.txt", bytes, bot), 403, "forbidden");
    refused(await botUpload(server, "no-such-room", "x.txt", bytes, poster), 404, "room_not_found");
    refused(await botUpload(server, "pub", "x.txt", bytes), 401, "unauthorized");
    // Over the cap: 413, and nothing is kept.
    refused(
      await botUpload(server, "pub", "big.bin", new Uint8Array(CAP + 1), bot),
      413,
      "file_too_large",
    );
    // The scoped bot uploads where its key reaches; pub's members never see that file.
    const far = await botUpload(server, "elsewhere", "far.txt", bytes, scoped);
    assert.equal(far.status, 201, JSON.stringify(far.body));
    const farGot = await fetch(`${server.url}/files/${far.body.file.id}/far.txt`, {
      headers: { cookie: (await signIn(server, "bob")).cookie },
    });
    assert.equal(farGot.status, 404);
    await farGot.body?.cancel();
    // A file attaches only from its uploader, in its room.
    refused(
      await call(server, "POST", "/api/v1/rooms/pub/messages", {
        key: bot,
        body: { file: far.body.file.id },
      }),
      404,
      "file_not_found",
    );

    const doc = await (await fetch(`${server.url}/api/openapi.json`)).json();
    assert.ok(doc.paths["/api/v1/rooms/{room}/files"]?.post, "upload route documented");
    assert.ok(doc.paths["/api/v1/files/{id}"]?.get, "download route documented");
  } finally {
    await ada.close();
    await server.close();
  }
});
