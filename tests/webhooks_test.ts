/**
 * Outgoing webhooks: signed deliveries a receiver can verify, retries after failures,
 * timeouts, bounded queues, and a chat that never waits for any of it.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/messages.ts";
import type { Principal } from "../server/auth/types.ts";
import { LocalBroker } from "../server/bus/local.ts";
import { Hub } from "../server/hub.ts";
import { createLogger } from "../server/log.ts";
import { MemoryStore } from "../server/store/memory.ts";
import { type DeliveryEntry, Webhooks, type WebhooksDeps } from "../server/webhooks.ts";
import { FakeConnection } from "./fakes.ts";
import { eventually, ROOT, signIn, startServer, TestClient, type TestServer } from "./helpers.ts";

// ---- a receiving endpoint ---------------------------------------------------------------------

interface Received {
  headers: Headers;
  body: string;
  payload: { event: string; delivery: string; message: Message; room: { name: string } };
  /** The signature checked out, independently of the server's own code (Web Crypto). */
  verified: boolean;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Let every hanging request go, and stop. */
  close(): Promise<void>;
}

async function verify(secret: string, headers: Headers, body: string): Promise<boolean> {
  const timestamp = headers.get("x-parley-timestamp") ?? "";
  const header = headers.get("x-parley-signature") ?? "";
  const hex = /^sha256=([0-9a-f]{64})$/.exec(header)?.[1];
  if (!hex || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const signature = new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  return await crypto.subtle.verify(
    "HMAC",
    key,
    signature,
    new TextEncoder().encode(`${timestamp}.${body}`),
  );
}

/** A webhook endpoint on port 0; `answer` says how to reply to the n-th request (from 0). */
function receiver(
  secret: string,
  answer: (n: number, request: Request, released: Promise<void>) => Response | Promise<Response> =
    () => new Response("ok"),
): Receiver {
  const received: Received[] = [];
  const release = Promise.withResolvers<void>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const body = await request.text();
    received.push({
      headers: request.headers,
      body,
      payload: JSON.parse(body),
      verified: await verify(secret, request.headers, body),
    });
    return await answer(received.length - 1, request, release.promise);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    async close() {
      release.resolve();
      await server.shutdown();
    },
  };
}

/** A reply that never comes: the handler holds on until the test lets it go. */
async function hang(released: Promise<void>): Promise<Response> {
  await released;
  return new Response(null, { status: 503 });
}

// ---- a hub with webhooks, without HTTP --------------------------------------------------------

const ADMIN: Principal = { user: { id: "u_root", name: "root" }, role: "admin", via: "session" };

async function setup(options: Partial<WebhooksDeps> = {}) {
  const store = new MemoryStore();
  await store.createRoom({ name: "general", topic: "", createdBy: "t" });
  await store.createRoom({ name: "other", topic: "", createdBy: "t" });
  // Chat as fast as a test can go: rates are not what these tests are about.
  const budgets = { messages: { perSecond: 1e6, burst: 1e6 } };
  const hub = new Hub({ store, bus: new LocalBroker().connect(), budgets });
  const webhooks = new Webhooks({
    store,
    log: createLogger("silent"),
    hub,
    ...options,
  });
  hub.onCommit((message) => webhooks.onCommit(message));
  const ada = new FakeConnection({ id: "u_ada", name: "ada" });
  await hub.connect(ada);
  await hub.join(ada, "general");
  await hub.join(ada, "other");
  const routes = webhooks.routes();
  const admin = async (method: string, path: string, body?: unknown) => {
    const request = new Request(`http://parley.test${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const response = await routes(request, {
      path,
      ip: "127.0.0.1",
      principal: () => Promise.resolve(ADMIN),
    });
    assert.ok(response, `no route for ${method} ${path}`);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : {} };
  };
  let n = 0;
  const send = (room: string, text: string) => hub.send(ada, room, text, `nonce-${++n}-xxxx`);
  return {
    hub,
    store,
    webhooks,
    ada,
    admin,
    send,
    async close() {
      await webhooks.close();
      hub.close(1001, "test over");
      await store.close();
    },
  };
}

/** The delivery log once `ready` says so (log writes trail the calls a little). */
async function logOf(
  admin: Awaited<ReturnType<typeof setup>>["admin"],
  id: string,
  ready: (entries: DeliveryEntry[]) => boolean,
): Promise<DeliveryEntry[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const entries = await deliveries(admin, id);
    if (ready(entries) || Date.now() > deadline) return entries;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function deliveries(
  admin: Awaited<ReturnType<typeof setup>>["admin"],
  id: string,
): Promise<DeliveryEntry[]> {
  const { status, body } = await admin("GET", `/api/admin/webhooks/${id}/deliveries`);
  assert.equal(status, 200);
  return body.deliveries;
}

const SECRET = "a-test-secret-that-is-long-enough";

Deno.test("webhooks: created, edited and deleted messages arrive signed, for the room asked", async () => {
  const hook = receiver(SECRET);
  const t = await setup();
  try {
    const created = await t.admin("POST", "/api/admin/webhooks", {
      url: hook.url,
      room: "general",
      secret: SECRET,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.secret, SECRET);
    const { message } = await t.send("general", "hello hooks");
    await t.send("other", "not for this hook");
    await t.hub.edit(t.ada, "general", message.seq, "hello, hooks");
    await t.hub.delete(t.ada, "general", message.seq);
    await eventually(() => hook.received.length === 3);
    // Two calls may be in flight at once, so arrival order is not promised: receivers order
    // by the entry's seq, as here.
    hook.received.sort((a, b) => a.payload.message.seq - b.payload.message.seq);
    assert.deepEqual(hook.received.map((r) => r.headers.get("x-parley-event")), [
      "message.created",
      "message.edited",
      "message.deleted",
    ]);
    for (const r of hook.received) {
      assert.ok(r.verified, "signature checks out");
      assert.equal(r.headers.get("content-type"), "application/json");
      assert.equal(r.headers.get("x-parley-delivery"), r.payload.delivery);
      assert.equal(r.payload.room.name, "general");
    }
    assert.equal(hook.received[0]!.payload.message.text, "hello hooks");
    assert.equal(hook.received[1]!.payload.message.text, "hello, hooks");
    assert.equal(hook.received[2]!.payload.message.target, message.seq);
    // A tampered body no longer matches its signature.
    const first = hook.received[0]!;
    assert.equal(await verify(SECRET, first.headers, first.body.replace("hooks", "hookz")), false);
    assert.equal(await verify("another-secret-entirely!", first.headers, first.body), false);

    const log = await logOf(t.admin, created.body.id, (entries) => entries.length === 3);
    assert.equal(log.length, 3);
    assert.ok(log.every((d) => d.outcome === "delivered" && d.status === 200 && d.attempt === 1));
    const listed = await t.admin("GET", "/api/admin/webhooks");
    assert.equal(listed.body.webhooks[0].secret, undefined);
  } finally {
    await t.close();
    await hook.close();
  }
});

Deno.test("webhooks: a 500 is retried with backoff under the same delivery id; a 400 is not", async () => {
  const hook = receiver(
    SECRET,
    (n) => new Response(null, { status: n === 0 ? 500 : n === 2 ? 400 : 200 }),
  );
  const t = await setup({ retryDelaysMs: [150, 150] });
  try {
    const { body } = await t.admin("POST", "/api/admin/webhooks", {
      url: hook.url,
      secret: SECRET,
      events: ["message.created"],
    });
    const started = Date.now();
    await t.send("general", "first");
    await eventually(() => hook.received.length === 2);
    assert.ok(Date.now() - started >= 140, "the retry waited for its backoff");
    const [a, b] = hook.received;
    assert.equal(a!.headers.get("x-parley-delivery"), b!.headers.get("x-parley-delivery"));
    assert.deepEqual([a, b].map((r) => r!.headers.get("x-parley-attempt")), ["1", "2"]);
    assert.ok(b!.verified);

    await t.send("general", "second"); // answered 400: a client error is not retried
    await eventually(() => hook.received.length === 3);
    const log = await logOf(t.admin, body.id, (entries) => entries.length === 3);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.received.length, 3);
    assert.deepEqual(
      log.map((d) => [d.attempt, d.status, d.outcome]),
      [[1, 400, "failed"], [2, 200, "delivered"], [1, 500, "retrying"]],
    );
    assert.ok(log[2]!.retryAt! >= log[2]!.at + 150);
  } finally {
    await t.close();
    await hook.close();
  }
});

Deno.test("webhooks: a dead endpoint is tried until the last retry, then given up", async () => {
  const hook = receiver(SECRET, () => new Response("down", { status: 503 }));
  const t = await setup({ retryDelaysMs: [20, 40] });
  try {
    const { body } = await t.admin("POST", "/api/admin/webhooks", { url: hook.url });
    await t.send("general", "anyone there?");
    await eventually(() => hook.received.length === 3);
    const log = await logOf(t.admin, body.id, (entries) => entries.length === 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(hook.received.length, 3);
    assert.deepEqual(log.map((d) => d.outcome), ["failed", "retrying", "retrying"]);
  } finally {
    await t.close();
    await hook.close();
  }
});

Deno.test("webhooks: a hanging endpoint times out, its queue stays bounded, and chat never waits", async () => {
  const hook = receiver(SECRET, (_n, _request, released) => hang(released));
  const t = await setup({ timeoutMs: 100, retryDelaysMs: [50], queueLimit: 5, concurrency: 2 });
  try {
    const { body } = await t.admin("POST", "/api/admin/webhooks", { url: hook.url });
    const started = performance.now();
    for (let i = 0; i < 50; i++) await t.send("general", `message ${i}`);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `50 sends took ${elapsed} ms`);
    await eventually(() => t.webhooks.pending(body.id) > 0);
    // Five waiting and two in flight at most, however many messages came.
    assert.ok(t.webhooks.pending(body.id) <= 7, String(t.webhooks.pending(body.id)));
    await eventually(() => hook.received.length >= 2);
    const log = await logOf(t.admin, body.id, (entries) => entries.length > 0);
    assert.equal(log.at(-1)!.error, "timed out after 100 ms");
    assert.ok(log.at(-1)!.durationMs >= 90 && log.at(-1)!.durationMs < 1000);
  } finally {
    const closing = performance.now();
    await t.close();
    assert.ok(performance.now() - closing < 1000, "close() does not wait for the endpoint");
    await hook.close();
  }
});

Deno.test("webhooks: a removed webhook gets nothing more; server-wide hooks skip direct messages", async () => {
  const hook = receiver(SECRET);
  const t = await setup();
  try {
    const { body } = await t.admin("POST", "/api/admin/webhooks", { url: hook.url });
    const bob = new FakeConnection({ id: "u_bob", name: "bob" });
    await t.hub.connect(bob);
    await t.store.putUser(bob.user);
    const dm = await t.hub.openDm(t.ada, "u_bob");
    await t.hub.join(t.ada, dm.room.name);
    await t.send(dm.room.name, "just between us");
    await t.send("other", "for everyone");
    await eventually(() => hook.received.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(hook.received.map((r) => r.payload.message.text), ["for everyone"]);
    assert.equal((await t.admin("DELETE", `/api/admin/webhooks/${body.id}`)).status, 204);
    assert.equal((await t.admin("GET", `/api/admin/webhooks/${body.id}`)).status, 404);
    await t.send("other", "after removal");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(hook.received.length, 1);
    assert.equal((await t.admin("POST", "/api/admin/webhooks", { url: "ftp://x" })).status, 400);
    assert.equal(
      (await t.admin("POST", "/api/admin/webhooks", { url: hook.url, room: "nowhere" })).status,
      404,
    );
  } finally {
    await t.close();
    await hook.close();
  }
});

// ---- end to end: the real server -----------------------------------------------------------------

async function adminCookie(server: TestServer): Promise<string> {
  const response = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  assert.equal(response.status, 200);
  return response.headers.get("set-cookie")!.split(";")[0]!;
}

async function adminCall(
  server: TestServer,
  cookie: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> & { id: string; secret: string } }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { cookie, origin: server.url, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

Deno.test("webhooks e2e: admins manage them over HTTP; a hanging endpoint does not stall chat", async () => {
  const server = await startServer();
  const healthy = receiver(SECRET);
  const stuck = receiver(SECRET, (_n, _request, released) => hang(released));
  const ada = await TestClient.connect(server, "ada");
  try {
    const root = await adminCookie(server);
    const { cookie: adaCookie } = await signIn(server, "ada");
    const refused = await adminCall(server, adaCookie, "POST", "/api/admin/webhooks", {
      url: healthy.url,
    });
    assert.equal(refused.status, 403);
    const good = await adminCall(server, root, "POST", "/api/admin/webhooks", {
      url: healthy.url,
      room: "general",
      secret: SECRET,
    });
    assert.equal(good.status, 201, JSON.stringify(good.body));
    const bad = await adminCall(server, root, "POST", "/api/admin/webhooks", { url: stuck.url });
    assert.equal(bad.status, 201);
    assert.match(bad.body.secret, /^whsec_/);

    await ada.request("room.join", { room: "general" });
    const started = performance.now();
    // Within the socket's burst of 15 messages.
    for (let i = 0; i < 12; i++) {
      await ada.request("send", { room: "general", text: `m${i}`, nonce: `nonce-e2e-${i}` });
    }
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2000, `12 sends took ${elapsed} ms with a hanging webhook`);
    await eventually(() => healthy.received.length === 12, 5000);
    assert.ok(healthy.received.every((r) => r.verified));
    assert.deepEqual(
      healthy.received.map((r) => r.payload.message.text).sort(),
      Array.from({ length: 12 }, (_, i) => `m${i}`).sort(),
    );
    await eventually(() => stuck.received.length >= 1);

    const path = `/api/admin/webhooks/${good.body.id}/deliveries`;
    const deadline = Date.now() + 5000;
    let log = await adminCall(server, root, "GET", path);
    while ((log.body.deliveries as unknown[]).length < 12 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      log = await adminCall(server, root, "GET", path);
    }
    assert.equal(log.status, 200);
    assert.equal((log.body.deliveries as DeliveryEntry[]).length, 12);
    assert.ok((log.body.deliveries as DeliveryEntry[]).every((d) => d.outcome === "delivered"));
    const listed = await adminCall(server, root, "GET", "/api/admin/webhooks");
    assert.equal((listed.body.webhooks as unknown[]).length, 2);
    const forbidden = await adminCall(
      server,
      adaCookie,
      "GET",
      `/api/admin/webhooks/${good.body.id}/deliveries`,
    );
    assert.equal(forbidden.status, 403);
  } finally {
    await ada.close();
    const closing = performance.now();
    await server.close();
    assert.ok(performance.now() - closing < 4000, "shutdown does not wait for the endpoint");
    await healthy.close();
    await stuck.close();
  }
});
