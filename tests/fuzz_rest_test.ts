/**
 * Property-based tests of the REST body decoders: `readBody` with each schema the API
 * publishes, and the account routes (login, token, register) and bot routes through the
 * real HTTP handler. Random bodies never cause a 500 and never count as a failed login;
 * valid bodies are accepted.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { z } from "zod";
import {
  ApiError,
  BanBody,
  CreateRoom,
  EditMessage,
  KeyCreate,
  MAX_BODY_BYTES,
  PostMessage,
  readBody,
  WebhookCreate,
} from "../server/api/openapi.ts";
import { LIMITS } from "../protocol/limits.ts";
import { passwordFor, ROOT, startServer, type TestServer } from "./helpers.ts";
import { check } from "./fuzz_support.ts";
import { edgyJson, fieldName, messageText, roomName, text } from "./fuzz_frames.ts";

const API_ACTIONS = ["post", "read", "rooms", "members", "moderate"] as const;
const WEBHOOK_EVENTS = ["message.created", "message.edited", "message.deleted"] as const;

/** A valid body of each schema, every field drawn across its range. */
const VALID: Record<string, [z.ZodType, fc.Arbitrary<unknown>]> = {
  PostMessage: [
    PostMessage,
    fc.record({
      text: messageText,
      nonce: fc.string({ minLength: 1, maxLength: LIMITS.nonceChars }),
    }, { requiredKeys: ["text"] }),
  ],
  EditMessage: [EditMessage, fc.record({ text: messageText })],
  CreateRoom: [
    CreateRoom,
    fc.record({
      room: roomName,
      kind: fc.constantFrom("public", "private", "announcement"),
      title: text(0, LIMITS.displayNameChars),
      topic: text(0, LIMITS.topicChars),
      receipts: fc.boolean(),
    }, { requiredKeys: ["room"] }),
  ],
  BanBody: [
    BanBody,
    fc.record({
      user: fc.string({ minLength: 1, maxLength: 128 }),
      minutes: fc.integer({ min: 1, max: 60 * 24 * 366 }),
      reason: text(0, LIMITS.reasonChars),
    }, { requiredKeys: ["user"] }),
  ],
  KeyCreate: [
    KeyCreate,
    fc.record({
      name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$/),
      rooms: fc.array(fc.oneof(fc.constant("*"), roomName), { minLength: 1, maxLength: 100 }),
      actions: fc.array(fc.constantFrom(...API_ACTIONS), { minLength: 1, maxLength: 5 }),
    }),
  ],
  WebhookCreate: [
    WebhookCreate,
    fc.record({
      url: fc.webUrl({ validSchemes: ["http", "https"] }).filter((u) => u.length <= 2048),
      room: roomName,
      events: fc.array(fc.constantFrom(...WEBHOOK_EVENTS), { minLength: 1, maxLength: 3 }),
      secret: fc.string({ minLength: 16, maxLength: 256 }),
    }, { requiredKeys: ["url"] }),
  ],
};

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=UTF-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/json; charset=latin1",
  "",
];

/** A body of any kind: bytes, text, JSON of any shape, a schema's body with a field broken. */
function anyBody(valid: fc.Arbitrary<unknown>): fc.Arbitrary<Uint8Array | string> {
  const encoder = new TextEncoder();
  const broken = fc.tuple(valid, fieldName, fc.option(edgyJson, { nil: undefined })).map((
    [value, key, replacement],
  ) => {
    const out = { ...(value as Record<string, unknown>) };
    if (replacement === undefined) delete out[key];
    else Object.defineProperty(out, key, { value: replacement, enumerable: true });
    return JSON.stringify(out);
  });
  return fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.string(),
    fc.string({ unit: "binary" }).map((s) => encoder.encode(s)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    broken,
    broken.map((s) => s.slice(0, s.length - 1)),
    fc.integer({ min: MAX_BODY_BYTES - 4, max: MAX_BODY_BYTES + 4 }).map((n) =>
      `{"text":"${"x".repeat(Math.max(0, n - 11))}"}`
    ),
  );
}

/** What a refusal must look like: a 4xx the API documents, with a JSON error body. */
async function refusal(response: Response, where: string): Promise<void> {
  assert.ok(
    [400, 413, 415].includes(response.status),
    `${where}: refused with ${response.status}`,
  );
  const body = await response.json();
  assert.ok(ApiError.safeParse(body).success, `${where}: ${JSON.stringify(body)}`);
}

function request(
  body: Uint8Array | string | null,
  contentType: string | null,
  declared?: "true" | "huge" | "zero",
  path = "/api/test",
  headers: Record<string, string> = {},
): Request {
  const bytes = typeof body === "string"
    ? new TextEncoder().encode(body)
    : body && new Uint8Array(body) as Uint8Array<ArrayBuffer>;
  const all: Record<string, string> = { ...headers };
  if (contentType !== null) all["content-type"] = contentType;
  if (declared === "true" && bytes) all["content-length"] = String(bytes.length);
  if (declared === "huge") all["content-length"] = String(MAX_BODY_BYTES * 10);
  if (declared === "zero") all["content-length"] = "0";
  return new Request(`http://127.0.0.1${path}`, {
    method: "POST",
    headers: all,
    ...(bytes === null ? {} : { body: bytes }),
  });
}

for (const [name, [schema, valid]] of Object.entries(VALID)) {
  Deno.test(`fuzz rest: readBody(${name}) answers any body with its value or a 4xx`, async () => {
    await check(
      `rest/readBody ${name} any body`,
      fc.asyncProperty(
        anyBody(valid),
        fc.constantFrom<string | null>(...CONTENT_TYPES, null),
        fc.constantFrom(undefined, "true" as const, "huge" as const),
        async (body, contentType, declared) => {
          const decoded = await readBody(request(body, contentType, declared), schema);
          if (decoded.ok) {
            const again = schema.safeParse(decoded.value);
            assert.ok(again.success, "readBody accepted what its schema refuses");
          } else await refusal(decoded.response, name);
        },
      ),
      { quick: 60, deep: 20_000 },
    );
  });

  Deno.test(`fuzz rest: readBody(${name}) accepts every valid body`, async () => {
    await check(
      `rest/readBody ${name} valid`,
      fc.asyncProperty(valid, async (value) => {
        const raw = JSON.stringify(value);
        const decoded = await readBody(request(raw, "application/json", "true"), schema);
        assert.ok(
          decoded.ok,
          `refused ${raw.slice(0, 200)}: ${!decoded.ok && await decoded.response.text()}`,
        );
        assert.deepEqual(decoded.value, JSON.parse(raw));
      }),
      { quick: 40, deep: 10_000 },
    );
  });
}

// ---- through the HTTP handler ---------------------------------------------------------------

let ipCounter = 0;
const nextIp = () => `10.${(++ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;

async function withServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startServer({ trustProxy: true });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function call(
  server: TestServer,
  method: string,
  path: string,
  body: Uint8Array | string | null,
  headers: Record<string, string>,
): Promise<Response> {
  const bytes = typeof body === "string"
    ? new TextEncoder().encode(body)
    : body && new Uint8Array(body) as Uint8Array<ArrayBuffer>;
  return server.app.fetch(
    new Request(`${server.url}${path}`, {
      method,
      headers: { origin: server.url, ...headers },
      ...(bytes === null ? {} : { body: bytes }),
    }),
  );
}

/** Bodies that are not a pair of string credentials: no login attempt at all. */
const credentialShape = fc.record({
  username: fc.oneof(fc.constant("ada"), fc.string({ maxLength: 40 })),
  password: fc.string({ maxLength: 40 }),
});
const malformedLogin = anyBody(credentialShape).filter((body) => {
  try {
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    const value = JSON.parse(text);
    return !(typeof value?.username === "string" && typeof value?.password === "string");
  } catch {
    return true;
  }
});

Deno.test("fuzz rest: malformed login bodies never count as failed logins", async () => {
  await withServer(async (server) => {
    const ada = { username: "ada", password: passwordFor("ada") };
    const registered = await call(server, "POST", "/api/register", JSON.stringify(ada), {
      "content-type": "application/json",
    });
    assert.equal(registered.status, 201);
    await registered.body?.cancel();
    let run = 0;
    await check(
      "rest/login malformed bodies",
      fc.asyncProperty(
        fc.array(
          fc.tuple(malformedLogin, fc.constantFrom(...CONTENT_TYPES), fc.boolean()),
          { minLength: 1, maxLength: 8 },
        ),
        async (bodies) => {
          // A fresh address per run: its failures start at zero.
          const ip = nextIp();
          const headers = (type: string) => ({ "x-forwarded-for": ip, "content-type": type });
          for (const [body, type, token] of bodies) {
            const response = await call(
              server,
              "POST",
              token ? "/api/token" : "/api/login",
              body,
              headers(type),
            );
            assert.ok(response.status < 500, `a malformed login answered ${response.status}`);
            assert.notEqual(response.status, 200, "a malformed login signed someone in");
            await response.body?.cancel();
          }
          // Five real failures are free (the limiter's allowance); had any malformed body
          // counted too, this address would now be held back and the right password refused.
          const stranger = `nobody-${++run}`;
          for (let i = 0; i < FREE_FAILURES; i++) {
            const wrong = await call(
              server,
              "POST",
              "/api/login",
              JSON.stringify({ username: stranger, password: "wrong-password-123" }),
              headers("application/json"),
            );
            assert.equal(wrong.status, 401, `wrong password ${i + 1}: ${await wrong.text()}`);
          }
          const right = await call(
            server,
            "POST",
            "/api/login",
            JSON.stringify(ada),
            headers("application/json"),
          );
          assert.equal(right.status, 200, `the right password: ${await right.text()}`);
        },
      ),
      { quick: 3, deep: 150 },
    );
  });
});
/** Failed logins the limiter allows before any delay (server/auth/limiter.ts). */
const FREE_FAILURES = 5;

Deno.test("fuzz rest: account and bot routes answer any body without a 500", async () => {
  await withServer(async (server) => {
    const json = { "content-type": "application/json" };
    const admin = await call(server, "POST", "/api/login", JSON.stringify(ROOT), json);
    const cookie = admin.headers.get("set-cookie")!.split(";")[0]!;
    await admin.body?.cancel();
    const issued = await call(
      server,
      "POST",
      "/api/admin/keys",
      JSON.stringify({ name: "fuzzbot", rooms: ["*"], actions: API_ACTIONS }),
      { ...json, cookie },
    );
    assert.equal(issued.status, 201, await issued.clone().text());
    const { key } = await issued.json();
    const routes: [string, string, Record<string, string>][] = [
      ["POST", "/api/login", {}],
      ["POST", "/api/token", {}],
      ["POST", "/api/register", {}],
      ["POST", "/api/logout", { cookie: "parley_session=nope" }],
      ["POST", "/api/guest", {}],
      ["POST", "/api/admin/keys", { cookie }],
      ["POST", "/api/v1/rooms", { authorization: `Bearer ${key}` }],
      ["POST", "/api/v1/rooms/general/messages", { authorization: `Bearer ${key}` }],
      ["PATCH", "/api/v1/rooms/general/messages/1", { authorization: `Bearer ${key}` }],
      ["POST", "/api/v1/rooms/general/bans", { authorization: `Bearer ${key}` }],
      ["POST", "/api/admin/webhooks", { cookie }],
    ];
    const anyValid = fc.oneof(...Object.values(VALID).map(([, arb]) => arb));
    await check(
      "rest/routes any body",
      fc.asyncProperty(
        fc.constantFrom(...routes),
        anyBody(anyValid),
        fc.constantFrom<string | null>(...CONTENT_TYPES, null),
        async ([method, path, headers], body, type) => {
          const response = await call(server, method, path, body, {
            ...headers,
            "x-forwarded-for": nextIp(),
            ...(type === null ? {} : { "content-type": type }),
          });
          const text = await response.text();
          assert.ok(response.status < 500, `${method} ${path}: ${response.status} ${text}`);
          if (response.status >= 400) {
            assert.ok(ApiError.safeParse(JSON.parse(text)).success, `${path}: ${text}`);
          }
        },
      ),
      // Register runs scrypt for each valid body: kept to a few in the quick pass.
      { quick: 40, deep: 10_000 },
    );
  });
});

Deno.test("fuzz rest: valid registrations are accepted and can sign in", async () => {
  await withServer(async (server) => {
    const seen = new Set<string>();
    const username = fc.stringMatching(/^[a-z][a-z0-9._-]{1,20}$/).filter((u) =>
      !seen.has(u) && !u.startsWith("guest-")
    );
    const password = fc.string({ minLength: 10, maxLength: 64 }).filter((p) =>
      p.trim().length >= 10
    );
    await check(
      "rest/register valid",
      fc.asyncProperty(username, password, async (name, secret) => {
        seen.add(name);
        const json = { "content-type": "application/json", "x-forwarded-for": nextIp() };
        const body = JSON.stringify({ username: name, password: secret });
        const registered = await call(server, "POST", "/api/register", body, json);
        const text = await registered.text();
        // The account rules may refuse a password as weak (400): never a 500, never silence.
        if (registered.status === 400) {
          assert.equal(JSON.parse(text).error.code, "weak_password", text);
          return;
        }
        assert.equal(registered.status, 201, text);
        const login = await call(server, "POST", "/api/login", body, json);
        assert.equal(login.status, 200, await login.text());
      }),
      { quick: 3, deep: 150 },
    );
  });
});
