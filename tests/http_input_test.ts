/**
 * Bad HTTP input gets the right answer: a body that is not a valid request is 400
 * `bad_request` (and never a login guess), a body that is not JSON is 415, and one over
 * the cap is 413 at once, before the server has read it.
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES } from "../server/api/openapi.ts";
import { ROOT, signIn, startServer, type TestServer } from "./helpers.ts";
import { chunk, rawRequest } from "./support/raw_http.ts";

interface Endpoint {
  method: string;
  path: string;
  /** A valid body (the endpoint may still refuse it for other reasons). */
  body: unknown;
  auth: "none" | "cookie" | "admin" | "key";
}

/** Every JSON endpoint, as the OpenAPI document and the README list them. */
const ENDPOINTS: Endpoint[] = [
  { method: "POST", path: "/api/register", body: { username: "x", password: "y" }, auth: "none" },
  { method: "POST", path: "/api/login", body: { username: "x", password: "y" }, auth: "none" },
  { method: "POST", path: "/api/token", body: { username: "x", password: "y" }, auth: "none" },
  { method: "POST", path: "/api/guest", body: {}, auth: "none" },
  { method: "POST", path: "/api/logout", body: {}, auth: "cookie" },
  { method: "POST", path: "/api/ticket", body: {}, auth: "cookie" },
  { method: "POST", path: "/api/admin/invites", body: {}, auth: "admin" },
  { method: "PATCH", path: "/api/admin/users/u_nobody", body: { disabled: false }, auth: "admin" },
  { method: "PATCH", path: "/api/admin/rooms/general", body: { disabled: false }, auth: "admin" },
  {
    method: "POST",
    path: "/api/admin/keys",
    body: { name: "bot", rooms: ["*"], actions: ["post"] },
    auth: "admin",
  },
  { method: "POST", path: "/api/admin/webhooks", body: { url: "http://x.test" }, auth: "admin" },
  { method: "POST", path: "/api/v1/rooms", body: { room: "side" }, auth: "key" },
  { method: "POST", path: "/api/v1/rooms/general/messages", body: { text: "hi" }, auth: "key" },
  { method: "PATCH", path: "/api/v1/rooms/general/messages/1", body: { text: "hi" }, auth: "key" },
  { method: "POST", path: "/api/v1/rooms/general/bans", body: { user: "nobody" }, auth: "key" },
];

interface Credentials {
  cookie: string;
  admin: string;
  keys: string[];
}

async function credentials(server: TestServer): Promise<Credentials> {
  const { cookie } = await signIn(server, "ada");
  const login = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  assert.equal(login.status, 200, await login.text());
  const admin = login.headers.get("set-cookie")!.split(";")[0]!;
  // Each key may make 30 requests at once; spread the bot calls over a few.
  const keys: string[] = [];
  for (let i = 0; i < 3; i++) {
    const issued = await fetch(`${server.url}/api/admin/keys`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url, cookie: admin },
      body: JSON.stringify({
        name: `bot${i}x`,
        rooms: ["*"],
        actions: ["post", "rooms", "moderate"],
      }),
    });
    const text = await issued.text();
    assert.equal(issued.status, 201, text);
    keys.push(JSON.parse(text).key);
  }
  return { cookie, admin, keys };
}

let nextKey = 0;

async function send(
  server: TestServer,
  creds: Credentials,
  endpoint: Endpoint,
  body: BodyInit | null,
  contentType: string | null = "application/json",
): Promise<{ status: number; code: string | undefined }> {
  const headers: Record<string, string> = { origin: server.url };
  if (contentType !== null) headers["content-type"] = contentType;
  if (endpoint.auth === "cookie") headers.cookie = creds.cookie;
  if (endpoint.auth === "admin") headers.cookie = creds.admin;
  if (endpoint.auth === "key") {
    headers.authorization = `Bearer ${creds.keys[nextKey++ % creds.keys.length]}`;
  }
  const response = await fetch(`${server.url}${endpoint.path}`, {
    method: endpoint.method,
    headers,
    body,
  });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text)?.error?.code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code };
}

const label = (e: Endpoint) => `${e.method} ${e.path}`;

Deno.test("http input: a body that is not a valid request is 400 bad_request on every JSON endpoint", async () => {
  const server = await startServer({ guests: true });
  try {
    const creds = await credentials(server);
    for (const endpoint of ENDPOINTS) {
      for (const bad of ['{"username":', "null", "[]", '"text"', "17", '{"surplus":[1,2,3]}']) {
        const answer = await send(server, creds, endpoint, bad);
        assert.deepEqual(answer, { status: 400, code: "bad_request" }, `${label(endpoint)} ${bad}`);
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("http input: bad bodies to /api/login are no guesses: the address is not throttled", async () => {
  const server = await startServer();
  try {
    const login = ENDPOINTS.find((e) => e.path === "/api/login")!;
    const creds = { cookie: "", admin: "", keys: [] };
    const bodies = ["{", "null", "[]", '{"username":1,"password":2}', '{"username":"root"}'];
    for (let i = 0; i < 4; i++) {
      for (const bad of bodies) {
        assert.deepEqual(await send(server, creds, login, bad), {
          status: 400,
          code: "bad_request",
        });
      }
      const huge = await send(server, creds, login, "x".repeat(10 * 1024 * 1024));
      assert.deepEqual(huge, { status: 413, code: "too_large" });
    }
    // 24 bad bodies later, the right password still works at once (5 failures would throttle).
    const ok = await send(server, creds, login, JSON.stringify(ROOT));
    assert.equal(ok.status, 200, ok.code);
    // A real wrong password is still a guess, and answered as one.
    const wrong = await send(
      server,
      creds,
      login,
      JSON.stringify({ username: "root", password: "not-the-password" }),
    );
    assert.deepEqual(wrong, { status: 401, code: "invalid_credentials" });
  } finally {
    await server.close();
  }
});

Deno.test("http input: every JSON endpoint requires Content-Type: application/json (415)", async () => {
  const server = await startServer({ guests: true });
  try {
    const creds = await credentials(server);
    for (const endpoint of ENDPOINTS) {
      const body = JSON.stringify(endpoint.body);
      for (
        const type of [
          "text/plain",
          "text/plain;charset=UTF-8",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/jsonx",
          null,
        ]
      ) {
        // fetch labels a string body text/plain itself; a Blob without a type goes bare.
        const answer = await send(
          server,
          creds,
          endpoint,
          type === null ? new Blob([body]) : body,
          type,
        );
        assert.deepEqual(
          answer,
          { status: 415, code: "unsupported_media_type" },
          `${label(endpoint)} ${type}`,
        );
      }
    }
    // The charset parameter is allowed.
    const register = ENDPOINTS.find((e) => e.path === "/api/register")!;
    const ok = await send(
      server,
      creds,
      register,
      JSON.stringify({ username: "grace", password: "grace-correct-horse-battery" }),
      "application/json; charset=utf-8",
    );
    assert.equal(ok.status, 201, ok.code);
  } finally {
    await server.close();
  }
});

Deno.test("http input: a body over the cap is 413 on every JSON endpoint", async () => {
  const server = await startServer({ guests: true });
  try {
    const creds = await credentials(server);
    const big = JSON.stringify({ text: "x".repeat(MAX_BODY_BYTES) });
    for (const endpoint of ENDPOINTS) {
      const answer = await send(server, creds, endpoint, big);
      assert.deepEqual(answer, { status: 413, code: "too_large" }, label(endpoint));
    }
  } finally {
    await server.close();
  }
});

Deno.test("http input: an oversized body is refused at once, not read to its end", async () => {
  const server = await startServer();
  try {
    const { keys } = await credentials(server);
    const host = `127.0.0.1:${server.port}`;
    const piece = new Uint8Array(64 * 1024).fill(0x20);
    // Each trickle would take 30 s to send: 64 KiB every 200 ms, about 10 MB in all.
    const trickle = { everyMs: 200, forMs: 30_000 };
    const cases = [
      { path: "/api/login", auth: [], chunked: true },
      { path: "/api/login", auth: [], chunked: false },
      {
        path: "/api/v1/rooms/general/messages",
        auth: [`Authorization: Bearer ${keys[0]}`],
        chunked: true,
      },
    ];
    for (const { path, auth, chunked } of cases) {
      const answer = await rawRequest(server.port, [
        `POST ${path} HTTP/1.1`,
        `Host: ${host}`,
        "Content-Type: application/json",
        chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${10 * 1024 * 1024}`,
        ...auth,
      ], {
        body: chunked ? chunk(new TextEncoder().encode('{"text":"')) : '{"text":"',
        trickle: { ...trickle, chunk: chunked ? chunk(piece) : piece },
        timeoutMs: 5_000,
      });
      assert.equal(answer.status, 413, `${path} chunked=${chunked}: ${answer.head}`);
      assert.ok(answer.ms < 5_000, `${path}: 413 after ${answer.ms} ms`);
      console.log(
        `${path}, ${chunked ? "chunked" : "10 MB declared"}: 413 in ${answer.ms.toFixed(0)} ms`,
      );
    }
    // And the server goes on serving.
    assert.equal((await fetch(`${server.url}/healthz`).then((r) => r.json())).ok, true);
  } finally {
    await server.close();
  }
});

Deno.test("http input: /api/openapi.json publishes every JSON endpoint with the schema it decodes with", async () => {
  const server = await startServer();
  try {
    const doc = await (await fetch(`${server.url}/api/openapi.json`)).json() as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses?: object }>>;
      components: { schemas: Record<string, unknown>; responses: Record<string, unknown> };
    };
    for (const { method, path } of ENDPOINTS) {
      const template = path
        .replace(/^\/api\/admin\/users\/[^/]+$/, "/api/admin/users/{id}")
        .replace(/^\/api\/admin\/rooms\/[^/]+$/, "/api/admin/rooms/{room}")
        .replace(/^\/api\/v1\/rooms\/[^/]+\/messages\/\d+$/, "/api/v1/rooms/{room}/messages/{seq}")
        .replace(/^\/api\/v1\/rooms\/[^/]+\//, "/api/v1/rooms/{room}/");
      const operation = doc.paths[template]?.[method.toLowerCase()];
      assert.ok(operation?.requestBody, `${method} ${template} has no requestBody`);
      for (const status of ["400", "413", "415"]) {
        assert.ok(status in (operation.responses ?? {}), `${method} ${template} lacks ${status}`);
      }
    }
    for (const name of ["LoginBody", "RegisterBody", "LogoutBody", "UserPatch", "RoomPatch"]) {
      assert.ok(doc.components.schemas[name], name);
    }
    const errors = JSON.stringify(doc.components);
    for (const code of ["bad_request", "unsupported_media_type", "too_large"]) {
      assert.ok(errors.includes(code), `${code} is not listed`);
    }
  } finally {
    await server.close();
  }
});
