/** Accounts, sessions, JWTs, tickets and live moderation, end to end over real sockets. */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { CLOSE_CODES } from "../protocol/errors.ts";
import { Accounts } from "../server/auth/accounts.ts";
import type { AuthError } from "../server/auth/types.ts";
import { KvStore } from "../server/store/kv.ts";
import {
  passwordFor,
  RequestFailed,
  ROOT,
  signIn,
  startServer,
  TestClient,
  type TestServer,
  upgradeStatus,
} from "./helpers.ts";

/** The fields these tests read from API answers; absent ones are undefined at run time. */
interface ApiBody {
  error: { code: string; message: string; retryAfterMs: number };
  user: { id: string; name: string };
  role: string;
  code: string;
  ticket: string;
}

async function post(
  server: TestServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: ApiBody; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

async function refusedWith(promise: Promise<unknown>, code: string): Promise<RequestFailed> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RequestFailed, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  throw new Error(`expected ${code}`);
}

Deno.test("auth: register, log in, and the password rules; the first account is the admin", async () => {
  const server = await startServer({}, { admin: false });
  try {
    const first = await post(server, "/api/register", {
      username: "Ada",
      password: passwordFor("ada"),
    });
    assert.equal(first.status, 201);
    assert.equal(first.body.role, "admin", "the first account on a fresh store is the admin");
    const cookie = first.headers.get("set-cookie")!;
    assert.match(cookie, /^parley_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax/);
    const second = await post(server, "/api/register", {
      username: "bob",
      password: passwordFor("bob"),
    });
    assert.equal(second.body.role, "user");
    const taken = await post(server, "/api/register", {
      username: "ADA",
      password: passwordFor("x"),
    });
    assert.deepEqual([taken.status, taken.body.error.code], [409, "username_taken"]);
    for (
      const [password, why] of [
        ["short", /at least 10/],
        ["password123", /too common/],
        ["aaaaaaaaaaaa", /too common/],
        ["cy-cy-cy-cy-cy-cy", /too close to your username/],
      ] as const
    ) {
      const weak = await post(server, "/api/register", { username: "cy", password });
      assert.equal(weak.body.error.code, "weak_password");
      assert.match(weak.body.error.message, why);
    }
    const bad = await post(server, "/api/register", {
      username: "guest-1",
      password: passwordFor("g"),
    });
    assert.equal(bad.body.error.code, "invalid_username");
    // The store keeps an scrypt hash, never the password; sessions only by hash.
    const stored = await server.app.accounts.byName("ada");
    assert.match(stored!.passwordHash!, /^scrypt\$12\$8\$1\$/);
    assert.ok(!JSON.stringify(stored).includes(passwordFor("ada")));
    const token = cookie.split(";")[0]!.split("=")[1]!;
    const sessions = server.app.hub.store.sessions;
    const hashes = await sessions.ofUser(stored!.id);
    const kept = await Promise.all(hashes.map((h) => sessions.get(h)));
    assert.ok(hashes.length >= 1 && !JSON.stringify([hashes, kept]).includes(token));

    const me = await fetch(`${server.url}/api/me`, { headers: { cookie: cookie.split(";")[0]! } });
    assert.equal((await me.json()).user.name, "Ada");
    assert.match(me.headers.get("set-cookie")!, /Max-Age=2592000/, "the cookie renews with use");
    const login = await post(server, "/api/login", {
      username: "ada",
      password: passwordFor("ada"),
    });
    assert.equal(login.status, 200);
    const wrong = await post(server, "/api/login", {
      username: "ada",
      password: "not-the-password",
    });
    assert.deepEqual([wrong.status, wrong.body.error.code], [401, "invalid_credentials"]);
    const nobody = await post(server, "/api/login", {
      username: "nobody",
      password: "whatever-it-is",
    });
    assert.equal(nobody.body.error.code, "invalid_credentials", "no hint that the user is missing");
  } finally {
    await server.close();
  }
});

Deno.test("auth: repeated wrong passwords are throttled per username and per address, with a growing delay", async () => {
  const server = await startServer();
  try {
    await signIn(server, "ada");
    const codes: string[] = [];
    let retry: { ms: number; header: string | null }[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await post(server, "/api/login", { username: "ada", password: `wrong-guess-${i}` });
      codes.push(r.body.error.code);
      if (r.status === 429) {
        retry.push({ ms: r.body.error.retryAfterMs, header: r.headers.get("retry-after") });
      }
    }
    // Five free failures; the sixth imposes a delay, and attempts during it are refused outright.
    assert.deepEqual(codes.slice(0, 5), Array(5).fill("invalid_credentials"));
    assert.ok(codes.slice(5).every((c) => c === "rate_limited"), codes.join());
    assert.ok(retry[0]!.ms > 0 && retry[0]!.header === "1", JSON.stringify(retry));
    assert.match(
      (await post(server, "/api/login", { username: "ada", password: passwordFor("ada") })).body
        .error.message,
      /try again in \d+ s/,
      "even the right password waits out the delay",
    );
    await new Promise((r) => setTimeout(r, retry[0]!.ms + 50));
    const after = await post(server, "/api/login", { username: "ada", password: "wrong-again-1" });
    assert.equal(after.status, 429, "the next failure doubles the delay");
    assert.ok(after.body.error.retryAfterMs > 1000, String(after.body.error.retryAfterMs));
    retry = [];
    // The same address guessing at another username is throttled too.
    const other = await post(server, "/api/login", { username: "bob", password: "wrong-guess-x" });
    assert.equal(other.status, 429);
  } finally {
    await server.close();
  }
});

Deno.test("auth: logging out closes that session's socket with a no-reconnect code; everywhere closes all", async () => {
  const server = await startServer();
  try {
    const phone = await signIn(server, "ada");
    const laptop = await signIn(server, "ada");
    const a = await TestClient.open(server, phone);
    const b = await TestClient.open(server, laptop);
    const out = await post(server, "/api/logout", {}, { cookie: phone.cookie });
    assert.equal(out.status, 204);
    assert.match(out.headers.get("set-cookie")!, /parley_session=; .*Max-Age=0/);
    assert.equal((await a.closed).code, CLOSE_CODES.sessionRevoked);
    assert.equal(b.socket.readyState, WebSocket.OPEN, "the other session is untouched");
    assert.equal(
      await upgradeStatus(server.wsUrl, { cookie: phone.cookie, origin: server.url }),
      401,
    );
    await post(server, "/api/logout", { everywhere: true }, { cookie: laptop.cookie });
    assert.equal((await b.closed).code, CLOSE_CODES.sessionRevoked);
    assert.equal(
      await upgradeStatus(server.wsUrl, { cookie: laptop.cookie, origin: server.url }),
      401,
    );
  } finally {
    await server.close();
  }
});

Deno.test("auth: registration by invitation or closed; guests only when switched on", async () => {
  const server = await startServer({ registration: "invite" });
  try {
    const root = await post(server, "/api/login", ROOT);
    const rootCookie = root.headers.get("set-cookie")!.split(";")[0]!;
    const none = await post(server, "/api/register", {
      username: "ada",
      password: passwordFor("ada"),
    });
    assert.deepEqual([none.status, none.body.error.code], [403, "invalid_invite"]);
    const invite = await post(server, "/api/admin/invites", {}, { cookie: rootCookie });
    assert.equal(invite.status, 201);
    const ok = await post(server, "/api/register", {
      username: "ada",
      password: passwordFor("ada"),
      invite: invite.body.code,
    });
    assert.equal(ok.status, 201);
    const reused = await post(server, "/api/register", {
      username: "bob",
      password: passwordFor("bob"),
      invite: invite.body.code,
    });
    assert.equal(reused.body.error.code, "invalid_invite", "an invitation works once");
    const adaCookie = ok.headers.get("set-cookie")!.split(";")[0]!;
    const notAdmin = await post(server, "/api/admin/invites", {}, { cookie: adaCookie });
    assert.equal(notAdmin.status, 403);
    const guest = await post(server, "/api/guest", {});
    assert.deepEqual([guest.status, guest.body.error.code], [403, "guests_disabled"]);
  } finally {
    await server.close();
  }
  const closed = await startServer({ registration: "closed", guests: true });
  try {
    const r = await post(closed, "/api/register", {
      username: "ada",
      password: passwordFor("ada"),
    });
    assert.equal(r.body.error.code, "registration_closed");
    const guest = await post(closed, "/api/guest", {});
    assert.equal(guest.status, 201);
    assert.match(guest.body.user.name, /^guest-/);
    assert.equal(guest.body.role, "guest");
  } finally {
    await closed.close();
  }
});

Deno.test("auth: a ticket opens one socket, once; a stolen ticket cannot be reused", async () => {
  const server = await startServer();
  try {
    const ada = await signIn(server, "ada");
    const issued = await post(server, "/api/ticket", {}, { cookie: ada.cookie });
    assert.equal(issued.status, 200);
    const { ticket } = issued.body;
    const socket = new WebSocket(`${server.wsUrl}?ticket=${ticket}`);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    assert.equal(await upgradeStatus(`${server.wsUrl}?ticket=${ticket}`, {}), 401);
    socket.close();
    const noCookie = await post(server, "/api/ticket", {});
    assert.equal(noCookie.status, 401);
  } finally {
    await server.close();
  }
});

Deno.test("auth: JWTs (HS256 and ES256 from a JWKS file) map onto users; expired, forged or foreign ones are refused", async () => {
  const secret = "an-application-secret-of-32-chars!!";
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwksPath = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    jwksPath,
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }),
  );
  const server = await startServer({
    jwt: {
      secret,
      jwks: jwksPath,
      issuer: "https://app.example",
      audience: "parley",
      rolesClaim: "roles",
    },
  });
  const hs = (claims: Record<string, unknown>, exp: string | number = "5m", key = secret) =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer("https://app.example")
      .setAudience("parley").setExpirationTime(exp).sign(new TextEncoder().encode(key));
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  try {
    const good = await hs({ sub: "42", name: "Grace", roles: ["admin"] });
    const client = await openBearer(server, good);
    const hello = client.frames.find((f) => f.type === "reply")!;
    assert.ok("ok" in hello);
    const ok = hello.ok as { user: { id: string; name: string }; role: string; expiresAt: number };
    assert.deepEqual([ok.user.id, ok.user.name, ok.role], ["jwt:42", "Grace", "admin"]);
    assert.ok(ok.expiresAt > Date.now());

    const expired = await hs({ sub: "42" }, Math.floor(Date.now() / 1000) - 120);
    assert.equal(await upgradeStatus(server.wsUrl, bearer(expired)), 401);
    assert.equal(
      await upgradeStatus(server.wsUrl, bearer(await hs({ sub: "42" }, "5m", "x".repeat(40)))),
      401,
    );
    const wrongAud = await new SignJWT({ sub: "42" }).setProtectedHeader({ alg: "HS256" })
      .setIssuer("https://app.example").setAudience("other").setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    assert.equal(await upgradeStatus(server.wsUrl, bearer(wrongAud)), 401);
    const notYet = await new SignJWT({ sub: "42" }).setProtectedHeader({ alg: "HS256" })
      .setIssuer("https://app.example").setAudience("parley").setExpirationTime("10m")
      .setNotBefore("5m").sign(new TextEncoder().encode(secret));
    assert.equal(await upgradeStatus(server.wsUrl, bearer(notYet)), 401);

    const es = await new SignJWT({ sub: "7", name: "Lin" }).setProtectedHeader({
      alg: "ES256",
      kid: "k1",
    })
      .setIssuer("https://app.example").setAudience("parley").setExpirationTime("5m").sign(
        privateKey,
      );
    const lin = await openBearer(server, es);
    assert.equal(await upgradeStatus(server.wsUrl, bearer(es)), 101);

    // In-band refresh: a new token for the same subject moves the expiry; another's is refused.
    const later = await hs({ sub: "42", name: "Grace", roles: ["admin"] }, "2h");
    const refreshed = await client.request("auth.refresh", { token: later });
    assert.ok(refreshed.expiresAt > ok.expiresAt + 60 * 60 * 1000);
    await refusedWith(client.request("auth.refresh", { token: es }), "unauthorized");
    await refusedWith(client.request("auth.refresh", { token: expired }), "unauthorized");
    await client.close();
    await lin.close();
  } finally {
    await server.close();
    await Deno.remove(jwksPath);
  }
});

Deno.test("auth: a socket whose JWT runs out is closed with token-expired unless refreshed", async () => {
  const secret = "an-application-secret-of-32-chars!!";
  const server = await startServer({ jwt: { secret, rolesClaim: "roles" } });
  try {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ sub: "9" }).setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(exp).sign(new TextEncoder().encode(secret));
    const client = await openBearer(server, token);
    assert.equal((await client.closed).code, CLOSE_CODES.tokenExpired);
  } finally {
    await server.close();
  }
});

async function openBearer(server: TestServer, token: string): Promise<TestClient> {
  const socket = new WebSocket(server.wsUrl, {
    headers: { Authorization: `Bearer ${token}` },
  } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("refused"));
  });
  return await TestClient.wrap(socket);
}

Deno.test("moderation: kick, ban and mute act at once on live sockets, and the room sees each one", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  const cy = await TestClient.connect(server, "cy");
  try {
    await ada.request("room.create", { room: "club" });
    for (const c of [ada, bob, cy]) await c.request("room.join", { room: "club" });
    await ada.request("room.role", { room: "club", user: bob.user.id, role: "moderator" });

    // A kick reaches the other members live, and the kicked user's socket leaves the room.
    const seen = cy.next((f) => f.type === "moderation" && f.event.action === "kick");
    const removed = ada.next((f) => f.type === "room.removed");
    void removed.catch(() => {});
    const gone = cy.next((f) => f.type === "room.removed");
    await bob.request("room.kick", { room: "club", user: cy.user.id, reason: "off topic" });
    const kick = await seen;
    assert.ok(kick.type === "moderation");
    assert.deepEqual([kick.event.actor.name, kick.event.target?.name, kick.event.reason], [
      "bob",
      "cy",
      "off topic",
    ]);
    assert.deepEqual(await gone, { type: "room.removed", room: "club", reason: "kicked" });
    await refusedWith(
      cy.request("send", { room: "club", text: "still here?", nonce: "nonce-cy-1" }),
      "not_joined",
    );
    // A moderator may not kick the owner, whose role is above theirs.
    const refused = await refusedWith(
      bob.request("room.kick", { room: "club", user: ada.user.id }),
      "forbidden",
    );
    assert.match(refused.message, /not below yours/);

    // A muted user's send is refused with its code, and says when the mute ends.
    await cy.request("room.join", { room: "club" });
    await bob.request("room.mute", { room: "club", user: cy.user.id, minutes: 10 });
    const muted = await cy.requestRaw({
      type: "send",
      room: "club",
      text: "hello?",
      nonce: "nonce-cy-2",
    });
    assert.ok("error" in muted);
    assert.equal(muted.error.code, "forbidden");
    assert.equal(muted.error.permission, "send");
    assert.ok(muted.error.retryAfterMs! > 9 * 60_000);
    const info = (await cy.request("room.list", {})).rooms.find((r) => r.name === "club")!;
    assert.ok(info.mutedUntil! > Date.now());
    await bob.request("room.unmute", { room: "club", user: cy.user.id });
    await cy.request("send", { room: "club", text: "thanks", nonce: "nonce-cy-3" });

    // A banned user is out at once and cannot rejoin; unbanning lets them back.
    const banned = cy.next((f) => f.type === "room.removed");
    await ada.request("room.ban", { room: "club", user: cy.user.id, reason: "spam" });
    assert.deepEqual(await banned, { type: "room.removed", room: "club", reason: "banned" });
    const rejoin = await refusedWith(cy.request("room.join", { room: "club" }), "forbidden");
    assert.match(rejoin.message, /banned from #club for ever/);
    const { bans } = await bob.request("room.members", { room: "club" });
    assert.deepEqual(bans?.map((b) => [b.user.name, b.until, b.reason]), [["cy", null, "spam"]]);
    await ada.request("room.unban", { room: "club", user: cy.user.id });
    await cy.request("room.join", { room: "club" });

    // Everything above is in the moderation log, newest first, for moderators only.
    const log = await bob.request("room.modlog", { room: "club" });
    assert.deepEqual(log.entries.map((e) => e.action), [
      "unban",
      "ban",
      "unmute",
      "mute",
      "kick",
      "role",
    ]);
    await refusedWith(cy.request("room.modlog", { room: "club" }), "forbidden");
  } finally {
    for (const c of [ada, bob, cy]) await c.close();
    await server.close();
  }
});

Deno.test("moderation: private rooms by invitation; deleting a room removes everyone", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  const bob = await TestClient.connect(server, "bob");
  const eve = await TestClient.connect(server, "eve");
  try {
    await ada.request("room.create", { room: "secret", kind: "private", title: "Secret plans" });
    await ada.request("room.join", { room: "secret" });
    for (const c of [bob, eve]) {
      const listed = (await c.request("room.list", {})).rooms.map((r) => r.name);
      assert.ok(!listed.includes("secret"), "a private room is invisible to those not invited");
      await refusedWith(c.request("room.join", { room: "secret" }), "forbidden");
    }
    const shown = bob.next((f) => f.type === "room" && f.room.name === "secret");
    const found = await ada.request("user.find", { name: "BOB" });
    await ada.request("room.invite", { room: "secret", user: found.user.id });
    await shown;
    const joined = await bob.request("room.join", { room: "secret" });
    assert.deepEqual([joined.room.kind, joined.room.title, joined.room.role], [
      "private",
      "Secret plans",
      "member",
    ]);
    await bob.request("send", { room: "secret", text: "in", nonce: "nonce-bob-1" });
    const removed = bob.next((f) => f.type === "room.removed");
    await refusedWith(bob.request("room.delete", { room: "secret" }), "forbidden");
    await ada.request("room.delete", { room: "secret" });
    assert.deepEqual(await removed, { type: "room.removed", room: "secret", reason: "deleted" });
    await refusedWith(ada.request("room.join", { room: "secret" }), "room_not_found");
  } finally {
    for (const c of [ada, bob, eve]) await c.close();
    await server.close();
  }
});

Deno.test("admin: list users, disable one (their sockets close, login refused) and re-enable; disable a room", async () => {
  const server = await startServer();
  try {
    const rootLogin = await post(server, "/api/login", ROOT);
    const cookie = rootLogin.headers.get("set-cookie")!.split(";")[0]!;
    const bob = await signIn(server, "bob");
    const client = await TestClient.open(server, bob);
    await client.request("room.join", { room: "general" });
    const users = await (await fetch(`${server.url}/api/admin/users`, { headers: { cookie } }))
      .json();
    assert.deepEqual(users.users.map((u: { username: string }) => u.username).sort(), [
      "bob",
      "root",
    ]);
    assert.ok(!JSON.stringify(users).includes("scrypt"), "hashes never leave the server");
    const patch = (path: string, body: unknown, c = cookie) =>
      fetch(`${server.url}${path}`, {
        method: "PATCH",
        headers: { cookie: c, origin: server.url, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const forbidden = await patch(
      `/api/admin/users/${bob.user.id}`,
      { disabled: true },
      bob.cookie,
    );
    assert.equal(forbidden.status, 403);
    await forbidden.body?.cancel();
    const disabled = await patch(`/api/admin/users/${bob.user.id}`, { disabled: true });
    assert.equal((await disabled.json()).user.disabled, true);
    assert.equal((await client.closed).code, CLOSE_CODES.accountDisabled);
    const login = await post(server, "/api/login", {
      username: "bob",
      password: passwordFor("bob"),
    });
    assert.equal(login.body.error.code, "account_disabled");
    await (await patch(`/api/admin/users/${bob.user.id}`, { disabled: false })).body?.cancel();
    const again = await signIn(server, "bob");
    const back = await TestClient.open(server, again);
    await back.request("room.join", { room: "general" });
    const out = back.next((f) => f.type === "room.removed");
    const room = await patch("/api/admin/rooms/general", { disabled: true });
    assert.equal((await room.json()).room.disabled, true);
    assert.deepEqual(await out, { type: "room.removed", room: "general", reason: "disabled" });
    await refusedWith(back.request("room.join", { room: "general" }), "forbidden");
    await back.close();
  } finally {
    await server.close();
  }
});

Deno.test("auth: login throttling is shared by every worker on one store, and survives a restart", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/parley.kv`;
  const [one, two] = [await KvStore.open(path), await KvStore.open(path)];
  try {
    const workers = [one, two].map((s) => new Accounts({ store: s, passwordCost: 10 }));
    await workers[0]!.register({ username: "ada", password: passwordFor("ada") });
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) {
      // Alternate workers, as a load balancer would.
      await workers[i % 2]!.login("ada", `wrong-${i}`, "10.0.0.1").catch((e: AuthError) =>
        codes.push(e.code)
      );
    }
    assert.deepEqual(codes, [
      ...Array(5).fill("invalid_credentials"),
      "rate_limited",
      "rate_limited",
    ]);
    await one.close();
    const again = await KvStore.open(path);
    const restarted = new Accounts({ store: again, passwordCost: 10 });
    await assert.rejects(restarted.login("ada", passwordFor("ada"), "10.0.0.2"), {
      code: "rate_limited",
    });
    await again.close();
  } finally {
    await two.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("auth: behind a trusted proxy, login throttling keys on each client's address", async () => {
  const server = await startServer({ trustProxy: true });
  try {
    await signIn(server, "ada");
    await signIn(server, "bob");
    const from = (ip: string) => ({ "x-forwarded-for": `203.0.113.9, ${ip}` });
    // One client guesses at Ada's password until it is throttled…
    for (let i = 0; i < 6; i++) {
      await post(
        server,
        "/api/login",
        { username: "ada", password: `wrong-${i}` },
        from("198.51.100.1"),
      );
    }
    const blocked = await post(
      server,
      "/api/login",
      { username: "carol", password: "wrong-x" },
      from("198.51.100.1"),
    );
    assert.equal(blocked.status, 429, "the guessing address is throttled for any username");
    // …while another client behind the same proxy signs in as usual.
    const bob = await post(
      server,
      "/api/login",
      { username: "bob", password: passwordFor("bob") },
      from("198.51.100.2"),
    );
    assert.equal(bob.status, 200);
    // The first hop is the client's own claim; only the proxy's last hop counts.
    const forged = await post(server, "/api/login", { username: "carol", password: "wrong-y" }, {
      "x-forwarded-for": "198.51.100.3, 198.51.100.1",
    });
    assert.equal(forged.status, 429);
  } finally {
    await server.close();
  }
});
