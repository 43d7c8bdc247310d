/**
 * A client that stops reading must not hold the server hostage: it is dropped once its
 * backlog passes --max-buffered, the server's memory stays bounded, and the others keep
 * chatting at full speed. The slow client is a raw TCP WebSocket that completes the
 * upgrade, says hello and joins, and then never reads again. Loopback buffers hold a few
 * megabytes before the server sees any backlog, so this takes 5-30 s.
 */
import assert from "node:assert/strict";
import { signIn, startServer, TestClient } from "./helpers.ts";

const MAX_BUFFERED = 256 * 1024;
const CHATTERS = 3;
/** Below the per-connection frame limit (30/s), so nobody is rate-limited. */
const SENDS_PER_SECOND = 25;
/** Close to the 4000-character limit, so the backlog grows fast. */
const TEXT = "x".repeat(3900);
const DROP_WITHIN_MS = 30_000;
const CHAT_AFTER_DROP_MS = 2_000;
const MAX_RSS_GROWTH = 200 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One masked client text frame (RFC 6455 section 5.2). */
function maskedTextFrame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  const n = payload.length;
  const header = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + n);
  frame[0] = 0x81; // FIN, text
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    new DataView(frame.buffer).setUint16(2, n);
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, header);
  for (let i = 0; i < n; i++) frame[header + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** Read until `text` has arrived (server frames are unmasked, so plain text shows through). */
async function readUntil(conn: Deno.Conn, text: string, timeoutMs = 5000): Promise<string> {
  let seen = "";
  const buffer = new Uint8Array(64 * 1024);
  const deadline = Date.now() + timeoutMs;
  while (!seen.includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms: ${seen}`);
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed before "${text}"`);
    seen += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return seen;
}

/** Upgrade, hello, join `room`; then the caller stops reading. */
async function openRawClient(
  server: { url: string; port: number },
  room: string,
): Promise<Deno.TcpConn> {
  const { cookie } = await signIn(server, "Slow");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const request = [
    "GET /ws HTTP/1.1",
    `Host: 127.0.0.1:${server.port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    `Origin: ${server.url}`,
    `Cookie: ${cookie}`,
  ].join("\r\n") + "\r\n\r\n";
  await conn.write(encoder.encode(request));
  const head = await readUntil(conn, "\r\n\r\n");
  assert.match(head, /^HTTP\/1\.1 101/);
  await conn.write(maskedTextFrame(JSON.stringify({ type: "hello", id: 1, v: [1] })));
  await readUntil(conn, '"id":1');
  await conn.write(maskedTextFrame(JSON.stringify({ type: "room.join", id: 2, room })));
  await readUntil(conn, '"id":2');
  return conn;
}

/** Drain `conn` for up to `ms`; true when the server's close frame (reason "slow consumer") came. */
async function closeFrameArrives(conn: Deno.Conn, ms: number): Promise<boolean> {
  try {
    await readUntil(conn, "slow consumer", ms);
    return true;
  } catch {
    return false;
  }
}

Deno.test("slow consumer: dropped past --max-buffered, memory bounded, others keep chatting", async () => {
  const server = await startServer({
    maxBufferedBytes: MAX_BUFFERED,
    messageRate: { perSecond: 1_000_000, burst: 1_000_000 },
  });
  const chatters: TestClient[] = [];
  let slow: Deno.TcpConn | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    for (let i = 0; i < CHATTERS; i++) {
      const client = await TestClient.connect(server, `chatter${i}`);
      await client.request("room.join", { room: "general" });
      chatters.push(client);
    }
    slow = await openRawClient(server, "general");
    assert.equal(server.app.hub.stats().connections, CHATTERS + 1);

    const received = chatters.map(() => 0);
    chatters.forEach((client, i) => {
      client.onPush = (frame) => {
        if (frame.type === "message") received[i]!++;
      };
    });
    let sent = 0;
    let failures = 0;
    let firstFailure = "";
    const rss0 = Deno.memoryUsage().rss;
    let rssPeak = rss0;
    // Every chatter sends SENDS_PER_SECOND; each message goes to all four members.
    timer = setInterval(() => {
      rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
      for (const client of chatters) {
        const n = sent++;
        client.request("send", {
          room: "general",
          text: TEXT,
          nonce: `nonce-${String(n).padStart(6, "0")}`,
        })
          .catch((error: Error) => {
            failures++;
            firstFailure ||= error.message;
          });
      }
    }, 1000 / SENDS_PER_SECOND);

    // Loopback buffers take megabytes before the server sees a backlog; allow for that.
    const t0 = Date.now();
    while (
      server.app.hub.stats().connections > CHATTERS && Date.now() - t0 < DROP_WITHIN_MS
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const dropped = server.app.hub.stats().connections === CHATTERS;
    const droppedAfterMs = Date.now() - t0;

    // Then everyone else must still get every message, at the rate it is sent.
    const before = [...received];
    const sentBefore = sent;
    await new Promise((r) => setTimeout(r, CHAT_AFTER_DROP_MS));
    clearInterval(timer);
    timer = undefined;
    const sentDuring = sent - sentBefore;

    const problems: string[] = [];
    if (!dropped) {
      // Tell "never closed" from "closed, but never let go": read what the server sent.
      problems.push(
        await closeFrameArrives(slow, 5000)
          ? `the server closed the slow client (4100) but still held it after ${DROP_WITHIN_MS} ms: ` +
            "hub.stats().connections kept counting it, because the close handshake waits for a " +
            "peer that does not read and nothing times it out"
          : `the server did not close the slow client within ${DROP_WITHIN_MS} ms`,
      );
    }
    for (let i = 0; i < CHATTERS; i++) {
      const got = received[i]! - before[i]!;
      if (got < sentDuring * 0.8) {
        problems.push(`chatter ${i} got ${got} of ${sentDuring} messages in the last window`);
      }
    }
    if (failures > 0) problems.push(`${failures} sends failed, the first with: ${firstFailure}`);
    const growth = rssPeak - rss0;
    if (growth >= MAX_RSS_GROWTH) {
      problems.push(`RSS grew by ${(growth / 2 ** 20).toFixed(0)} MB`);
    }
    console.log(
      `slow client ${dropped ? `dropped after ${droppedAfterMs} ms` : "not dropped"}; ` +
        `RSS growth ${(growth / 2 ** 20).toFixed(1)} MB; ${sent} messages sent`,
    );
    assert.deepEqual(problems, []);
  } finally {
    clearInterval(timer);
    try {
      slow?.close();
    } catch { /* the server closed it already */ }
    await Promise.all(chatters.map((c) => c.close()));
    await server.close();
  }
});
