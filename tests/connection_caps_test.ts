/**
 * Connection caps: open sockets per user and per client address, and upgrades per address
 * per second, each refused with 429 and counted in /metrics.
 */
import assert from "node:assert/strict";
import { signIn, startServer, type TestServer } from "./helpers.ts";
import { rawUpgrade } from "./support/raw_http.ts";

async function metric(server: TestServer, line: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found ? Number(found.slice(line.length + 1)) : NaN;
}

function host(server: TestServer) {
  return { Host: `127.0.0.1:${server.port}`, Origin: server.url };
}

/** Open a socket as `who` (hello unsaid), with extra headers; it stays open. */
async function open(
  server: TestServer,
  who: { cookie: string; user: { id: string; name: string } },
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const socket = new WebSocket(server.wsUrl, {
    headers: { cookie: who.cookie, origin: server.url, ...headers },
  } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("WebSocket failed to open"));
  });
  return socket;
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((socket) => {
    if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    socket.close();
    return closed;
  }));
}

Deno.test("caps: a user holds at most --max-sockets-per-user open sockets (429)", async () => {
  const server = await startServer({ socketsPerUser: 3 });
  const sockets: WebSocket[] = [];
  try {
    const ada = await signIn(server, "ada");
    for (let i = 0; i < 3; i++) sockets.push(await open(server, ada));
    const refused = await rawUpgrade(server.port, { ...host(server), Cookie: ada.cookie });
    assert.equal(refused.status, 429, refused.head);
    assert.match(refused.body, /"too_many_connections"/);
    // Someone else is not held back by Ada's sockets.
    const bob = await signIn(server, "bob");
    assert.equal(
      (await rawUpgrade(server.port, { ...host(server), Cookie: bob.cookie })).status,
      101,
    );
    // A closed socket frees its place.
    await closeAll([sockets.pop()!]);
    const again = await open(server, ada);
    sockets.push(again);
    assert.equal(await metric(server, 'parley_ws_upgrades_refused_total{reason="user_cap"}'), 1);
    assert.equal(await metric(server, "parley_ws_sockets"), 3);
  } finally {
    await closeAll(sockets);
    await server.close();
  }
});

Deno.test("caps: an address holds at most --max-sockets-per-ip; behind --trust-proxy, the forwarded one", async () => {
  const server = await startServer({ socketsPerIp: 4, trustProxy: true });
  const sockets: WebSocket[] = [];
  try {
    const people = await Promise.all(["u0", "u1", "u2", "u3", "u4"].map((n) => signIn(server, n)));
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    for (let i = 0; i < 4; i++) sockets.push(await open(server, people[i]!, from("198.51.100.1")));
    const refused = await rawUpgrade(server.port, {
      ...host(server),
      Cookie: people[4]!.cookie,
      "X-Forwarded-For": "198.51.100.1",
    });
    assert.equal(refused.status, 429, refused.head);
    assert.match(refused.body, /"too_many_connections"/);
    // The proxy's last hop is the address; an earlier one the client may have forged.
    const forged = await rawUpgrade(server.port, {
      ...host(server),
      Cookie: people[4]!.cookie,
      "X-Forwarded-For": "203.0.113.9, 198.51.100.1",
    });
    assert.equal(forged.status, 429);
    sockets.push(await open(server, people[4]!, from("198.51.100.2")));
    assert.equal(await metric(server, 'parley_ws_upgrades_refused_total{reason="ip_cap"}'), 2);
    assert.equal(await metric(server, "parley_ws_busiest_address_sockets"), 4);
  } finally {
    await closeAll(sockets);
    await server.close();
  }
});

Deno.test("caps: upgrades per address are rate-limited (429 rate_limited, Retry-After)", async () => {
  const server = await startServer({ upgradeRate: { perSecond: 0.5, burst: 3 } });
  try {
    const ada = await signIn(server, "ada");
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await rawUpgrade(server.port, { ...host(server), Cookie: ada.cookie })).status,
        101,
      );
    }
    // Failed attempts count too: guessing tickets is no cheaper than opening sockets.
    const limited = await rawUpgrade(server.port, { ...host(server), Cookie: ada.cookie });
    assert.equal(limited.status, 429, limited.head);
    assert.match(limited.body, /"rate_limited"/);
    assert.match(limited.head, /\r\nretry-after: [1-9]\d*/i);
    assert.equal(await metric(server, 'parley_ws_upgrades_refused_total{reason="rate"}'), 1);
    assert.equal(await metric(server, "parley_ws_upgrades_total"), 3);
  } finally {
    await server.close();
  }
});

Deno.test("caps: the defaults bound one user's burst of 300 sockets from one address", async () => {
  const server = await startServer(); // TEST_CONFIG carries the command line's defaults
  const sockets: WebSocket[] = [];
  try {
    const ada = await signIn(server, "ada");
    const started = performance.now();
    const attempts = await Promise.allSettled(Array.from({ length: 300 }, async () => {
      const socket = new WebSocket(server.wsUrl, {
        headers: { cookie: ada.cookie, origin: server.url },
      } as unknown as string[]);
      sockets.push(socket);
      return await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        socket.onopen = () => (clearTimeout(timer), resolve(true));
        socket.onerror = () => (clearTimeout(timer), resolve(false));
      });
    }));
    const opened = attempts.filter((a) => a.status === "fulfilled" && a.value).length;
    const ms = performance.now() - started;
    console.log(`300 attempts in ${ms.toFixed(0)} ms: ${opened} opened`);
    assert.ok(opened <= 32, `${opened} sockets opened for one user`);
    assert.ok(opened > 0);
    assert.equal(await metric(server, "parley_ws_sockets"), opened);
    // The server goes on serving.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    await closeAll(sockets);
    await server.close();
  }
});
