/**
 * What Deno.serve bounds by itself, measured: slow connections that trickle their headers,
 * oversized headers and cookies, and oversized WebSocket frames. Each case checks that
 * the server goes on serving everyone else, and logs what it measured.
 */
import assert from "node:assert/strict";
import { CLOSE_CODES } from "../protocol/errors.ts";
import { startServer, TestClient, type TestServer } from "./helpers.ts";
import { rawRequest } from "./support/raw_http.ts";

async function rssMiB(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("parley_memory_rss_bytes "));
  return Number(line?.split(" ")[1]) / 2 ** 20;
}

async function timed(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await response.body?.cancel();
  return { status: response.status, ms: performance.now() - started };
}

Deno.test("slow http: 300 connections trickling their headers do not hold up anyone else", async () => {
  const server = await startServer();
  const conns: Deno.Conn[] = [];
  try {
    const before = await rssMiB(server);
    for (let i = 0; i < 300; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await conn.write(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `));
      conns.push(conn);
    }
    const ada = await TestClient.connect(server, "ada");
    const byte = new TextEncoder().encode("x");
    const latencies: number[] = [];
    // For 3 s, every slow connection sends one more header byte every 100 ms, while
    // ordinary requests and a socket's pings go on.
    const until = performance.now() + 3_000;
    while (performance.now() < until) {
      await Promise.all(conns.map((conn) => conn.write(byte).catch(() => 0)));
      const page = await timed(`${server.url}/healthz`);
      assert.equal(page.status, 200);
      latencies.push(page.ms);
      const ping = performance.now();
      await ada.request("ping", {});
      latencies.push(performance.now() - ping);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await rssMiB(server);
    const worst = Math.max(...latencies);
    // Deno has no header timeout: every one of them is still open, waiting.
    const open = (await Promise.all(conns.map((conn) =>
      Promise.race([
        conn.read(new Uint8Array(16)).then((n) => n !== null, () => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 100)),
      ])
    ))).filter(Boolean).length;
    console.log(
      `300 slow connections: ${latencies.length} requests, worst ${worst.toFixed(1)} ms, ` +
        `RSS ${before.toFixed(1)} -> ${after.toFixed(1)} MiB, ${open} still open after 3 s`,
    );
    assert.ok(worst < 1_000, `an ordinary request took ${worst.toFixed(0)} ms`);
    await ada.close();
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // already closed by the server
      }
    }
    await server.close();
  }
});

Deno.test("slow http: 64 KiB of headers or cookies is refused and the connection closed", async () => {
  const server = await startServer();
  try {
    const host = `Host: 127.0.0.1:${server.port}`;
    const big = "x".repeat(64 * 1024);
    const cases = {
      "a 64 KiB header": [`GET / HTTP/1.1`, host, `X-Big: ${big}`],
      "a 64 KiB cookie": [`GET /api/me HTTP/1.1`, host, `Cookie: parley_session=${big}`],
      "two 40 KiB cookies": [
        `GET /api/me HTTP/1.1`,
        host,
        `Cookie: a=${"y".repeat(40 * 1024)}`,
        `Cookie: b=${"z".repeat(40 * 1024)}`,
      ],
      "a 64 KiB upgrade": [
        `GET /ws HTTP/1.1`,
        host,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        `Cookie: parley_session=${big}`,
      ],
      "150 headers": [
        `GET / HTTP/1.1`,
        host,
        ...Array.from({ length: 149 }, (_, i) => `X-H${i}: v`),
      ],
    };
    for (const [name, lines] of Object.entries(cases)) {
      const answer = await rawRequest(server.port, lines, { timeoutMs: 5_000 });
      console.log(
        `${name}: ${answer.status || "no answer"} in ${answer.ms.toFixed(1)} ms, ` +
          `connection ${answer.closed ? "closed" : "open"}`,
      );
      assert.ok([400, 431].includes(answer.status), `${name}: ${answer.head}`);
      assert.ok(answer.closed, `${name}: the connection stays open`);
      assert.equal((await timed(`${server.url}/healthz`)).status, 200);
    }
    // Just under Deno's limit, a junk cookie is only a cookie that signs nobody in.
    const junk = await rawRequest(server.port, [
      `GET /api/me HTTP/1.1`,
      host,
      `Cookie: parley_session=${"x".repeat(60 * 1024)}`,
    ], { timeoutMs: 5_000 });
    assert.equal(junk.status, 200, junk.head);
    assert.match(junk.body, /"user":null|"unauthorized"/);
  } finally {
    await server.close();
  }
});

Deno.test("slow http: a 16 MiB WebSocket frame closes its socket with 1009; the server serves on", async () => {
  const server = await startServer();
  try {
    const bystander = await TestClient.connect(server, "bystander");
    const senders = await Promise.all(
      ["s0", "s1", "s2", "s3", "s4"].map((name) => TestClient.connect(server, name)),
    );
    const before = await rssMiB(server);
    const frame = "x".repeat(16 * 2 ** 20);
    const started = performance.now();
    for (const sender of senders) sender.socket.send(frame);
    const codes = await Promise.all(senders.map(async (sender) => {
      const timer = setTimeout(() => sender.socket.close(), 20_000);
      const { code } = await sender.closed;
      clearTimeout(timer);
      return code;
    }));
    const seconds = (performance.now() - started) / 1000;
    const peak = await rssMiB(server);
    assert.deepEqual(codes, senders.map(() => CLOSE_CODES.frameTooLarge));
    // Everyone else is served on.
    assert.ok((await bystander.request("ping", {})).ts > 0);
    const late = await TestClient.connect(server, "late");
    assert.ok((await late.request("ping", {})).ts > 0);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const settled = await rssMiB(server);
    console.log(
      `5 x 16 MiB frames: closed 1009 within ${seconds.toFixed(1)} s; RSS ${before.toFixed(0)} ` +
        `-> ${peak.toFixed(0)} MiB, ${settled.toFixed(0)} MiB a second later`,
    );
    await late.close();
    await bystander.close();
  } finally {
    await server.close();
  }
});
