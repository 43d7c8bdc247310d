/**
 * Which hosts and origins the server answers for: a forged Host (DNS rebinding) is 421,
 * a foreign Origin 403, and a session cookie on a state-changing request needs an Origin.
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../server/config.ts";
import { signIn, startServer, type TestServer } from "./helpers.ts";
import { rawRequest } from "./support/raw_http.ts";

/** A WebSocket upgrade with exactly these headers (Host included); the status answered. */
async function upgrade(server: TestServer, headers: Record<string, string>): Promise<number> {
  const answer = await rawRequest(server.port, [
    "GET /ws HTTP/1.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ], { timeoutMs: 5_000 });
  return answer.status;
}

/** Any request with exactly these headers (Host included); status and error code. */
async function request(
  server: TestServer,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; code: string | undefined }> {
  const answer = await rawRequest(server.port, [
    `${method} ${path} HTTP/1.1`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ...(body === undefined ? [] : [`Content-Length: ${new TextEncoder().encode(body).length}`]),
  ], { ...(body === undefined ? {} : { body }), timeoutMs: 5_000 });
  let code: string | undefined;
  try {
    code = JSON.parse(answer.body)?.error?.code;
  } catch {
    code = undefined;
  }
  return { status: answer.status, code };
}

const JSON_TYPE = { "Content-Type": "application/json" };

Deno.test("origins: a forged Host (DNS rebinding) is refused with 421, even with a valid cookie", async () => {
  const server = await startServer();
  try {
    const { cookie } = await signIn(server, "ada");
    const evil = `evil.example:${server.port}`;
    // The browser believes it talks to evil.example, so Host and Origin agree.
    assert.equal(
      await upgrade(server, { Host: evil, Origin: `http://${evil}`, Cookie: cookie }),
      421,
    );
    assert.equal((await request(server, "GET", "/", { Host: evil })).status, 421);
    const login = await request(server, "POST", "/api/login", {
      Host: evil,
      Origin: `http://${evil}`,
      ...JSON_TYPE,
    }, JSON.stringify({ username: "ada", password: "whatever-it-is" }));
    assert.deepEqual(login, { status: 421, code: "misdirected_request" });
    // Probes and scrapers use names of their own: health, readiness and metrics answer them.
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      assert.equal((await request(server, "GET", path, { Host: evil })).status, 200, path);
    }
    // The server's own addresses are always its own.
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`]) {
      assert.equal(
        await upgrade(server, { Host: host, Origin: `http://${host}`, Cookie: cookie }),
        101,
      );
      assert.equal((await request(server, "GET", "/", { Host: host })).status, 200);
    }
    // An address, but another page's origin: still foreign.
    assert.equal(
      await upgrade(server, {
        Host: `127.0.0.1:${server.port}`,
        Origin: `http://localhost:${server.port}`,
        Cookie: cookie,
      }),
      403,
    );
  } finally {
    await server.close();
  }
});

Deno.test("origins: --public-url names the hosts and origins the server answers for", async () => {
  const server = await startServer({
    publicUrls: ["https://chat.example.com"],
    allowedOrigins: ["https://app.example"],
  });
  try {
    const { cookie } = await signIn(server, "ada");
    const host = "chat.example.com";
    const page = "https://chat.example.com";
    assert.equal(await upgrade(server, { Host: host, Origin: page, Cookie: cookie }), 101);
    assert.equal(
      await upgrade(server, { Host: host, Origin: "https://evil.example", Cookie: cookie }),
      403,
    );
    assert.equal(
      await upgrade(server, { Host: host, Origin: "https://app.example", Cookie: cookie }),
      101,
    );
    // A proxy that passes its upstream's address as Host.
    assert.equal(
      await upgrade(server, { Host: `127.0.0.1:${server.port}`, Origin: page, Cookie: cookie }),
      101,
    );
    assert.equal(
      await upgrade(server, { Host: "evil.example", Origin: page, Cookie: cookie }),
      421,
    );
    const credentials = JSON.stringify({ username: "ada", password: "ada-correct-horse-battery" });
    const signedIn = await request(server, "POST", "/api/login", {
      Host: host,
      Origin: page,
      ...JSON_TYPE,
    }, credentials);
    assert.equal(signedIn.status, 200, signedIn.code);
    const foreign = await request(server, "POST", "/api/login", {
      Host: host,
      Origin: "https://evil.example",
      ...JSON_TYPE,
    }, credentials);
    assert.deepEqual(foreign, { status: 403, code: "forbidden" });
  } finally {
    await server.close();
  }
});

Deno.test("origins: behind --trust-proxy the host checked is the proxy's X-Forwarded-Host", async () => {
  const trusted = await startServer({ publicUrls: ["https://chat.example.com"], trustProxy: true });
  const untrusted = await startServer({ publicUrls: ["https://chat.example.com"] });
  try {
    // The proxy reaches Parley by a name of its own (docker-compose, say) and says which
    // host the browser asked for.
    const headers = {
      Host: "parley:8000",
      "X-Forwarded-Host": "chat.example.com",
      "X-Forwarded-For": "203.0.113.7",
      Origin: "https://chat.example.com",
    };
    const ada = await signIn(trusted, "ada");
    assert.equal(await upgrade(trusted, { ...headers, Cookie: ada.cookie }), 101);
    const { "X-Forwarded-Host": _, ...noForwardedHost } = headers;
    assert.equal(await upgrade(trusted, { ...noForwardedHost, Cookie: ada.cookie }), 421);
    // A client could send X-Forwarded-Host itself: without --trust-proxy it means nothing.
    const eve = await signIn(untrusted, "eve");
    assert.equal(await upgrade(untrusted, { ...headers, Cookie: eve.cookie }), 421);
  } finally {
    await trusted.close();
    await untrusted.close();
  }
});

Deno.test("origins: a session cookie on a state-changing request needs Origin (or Sec-Fetch-Site)", async () => {
  const server = await startServer();
  try {
    const { cookie } = await signIn(server, "ada");
    const host = { Host: `127.0.0.1:${server.port}` };
    const origin = { Origin: server.url };
    // No Origin: not a browser page of ours, so the cookie does not count.
    assert.deepEqual(
      await request(server, "POST", "/api/logout", { ...host, Cookie: cookie }),
      { status: 403, code: "origin_required" },
    );
    assert.deepEqual(
      await request(server, "POST", "/api/ticket", { ...host, Cookie: cookie }),
      { status: 403, code: "origin_required" },
    );
    assert.equal(await upgrade(server, { ...host, Cookie: cookie }), 403);
    // A browser that sends no Origin still says Sec-Fetch-Site.
    const fetchSite = await request(server, "POST", "/api/ticket", {
      ...host,
      Cookie: cookie,
      "Sec-Fetch-Site": "same-origin",
    });
    assert.equal(fetchSite.status, 200, fetchSite.code);
    assert.equal(
      (await request(server, "POST", "/api/ticket", {
        ...host,
        Cookie: cookie,
        "Sec-Fetch-Site": "cross-site",
      })).status,
      403,
    );
    // Reads need none.
    assert.equal(
      (await request(server, "GET", "/api/me", { ...host, Cookie: cookie })).status,
      200,
    );
    // Bearer tokens are not sent by browsers on their own: no Origin needed.
    const issued = await request(server, "POST", "/api/login", { ...host, ...JSON_TYPE }, "{}");
    assert.equal(issued.status, 400); // no cookie, no Origin: a non-browser client may sign in
    const tokenAnswer = await fetch(`${server.url}/api/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "ada", password: "ada-correct-horse-battery" }),
    });
    assert.equal(tokenAnswer.status, 200);
    const { token } = await tokenAnswer.json();
    const bearer = { Authorization: `Bearer ${token}` };
    assert.equal(
      (await request(server, "POST", "/api/ticket", { ...host, ...bearer })).status,
      200,
    );
    assert.equal(await upgrade(server, { ...host, ...bearer }), 101);
    // And with Origin the cookie works as ever.
    assert.equal(await upgrade(server, { ...host, ...origin, Cookie: cookie }), 101);
    assert.equal(
      (await request(server, "POST", "/api/logout", { ...host, ...origin, Cookie: cookie })).status,
      204,
    );
  } finally {
    await server.close();
  }
});

Deno.test("origins: --public-url and PARLEY_PUBLIC_URL, and the default from --hostname", () => {
  const parse = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseConfig(args, (name) => env[name]);
    assert.ok(!parsed.help);
    return parsed.config.publicUrls;
  };
  assert.deepEqual(
    parse(["--public-url", "https://a.example/", "--public-url", "https://B.example:8443/chat"]),
    ["https://a.example", "https://b.example:8443"],
  );
  assert.deepEqual(
    parse([], { PARLEY_PUBLIC_URL: "https://a.example, http://b.example:8080" }),
    ["https://a.example", "http://b.example:8080"],
  );
  // A flag wins over the variable.
  assert.deepEqual(
    parse(["--public-url", "https://c.example"], { PARLEY_PUBLIC_URL: "https://a.example" }),
    [
      "https://c.example",
    ],
  );
  for (const bad of ["ftp://a.example", "chat.example.com", "https://"]) {
    assert.throws(() => parse(["--public-url", bad]), ConfigError, bad);
  }
  // Without it: addresses need no naming; a host name to listen on is the public one.
  assert.deepEqual(parse([]), []);
  assert.deepEqual(parse(["--hostname", "0.0.0.0"]), []);
  assert.deepEqual(parse(["--hostname", "chat.lan", "--port", "8080"]), ["http://chat.lan:8080"]);
});
