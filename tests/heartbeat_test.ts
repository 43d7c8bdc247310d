/**
 * Dead peers on the server side: a client whose link dies answers no ping, and the
 * server must close its socket within the bound the README states (20 s), rather than
 * keep it, its presence and its room memberships for ever.
 */
import assert from "node:assert/strict";
import { eventually, signIn, startServer } from "./helpers.ts";

/** What the README promises: a silent peer is dropped within 20 s. */
const DEAD_PEER_BOUND_MS = 20_000;

Deno.test({
  name: "heartbeat: the server closes a socket whose client stops answering pings",
  // Every ping must go unanswered, so this client speaks WebSocket over raw TCP.
  async fn() {
    const server = await startServer();
    try {
      const { cookie } = await signIn(server, "Sleepy");
      const peer = await RawPeer.open(server.url, cookie);
      try {
        await peer.sendText(JSON.stringify({ type: "hello", id: 1, v: [1] }));
        const hello = await peer.nextText();
        assert.match(hello, /"type":"reply".*"id":1/);
        // From here on the peer reads but never answers: no pong, no frame.
        const silentSince = Date.now();
        const end = await peer.untilClosed(DEAD_PEER_BOUND_MS + 5_000);
        const after = end.at - silentSince;
        assert.ok(end.pings >= 1, "the server pinged the silent peer");
        assert.ok(end.closed, `the server kept a silent peer for ${after} ms`);
        assert.ok(
          after <= DEAD_PEER_BOUND_MS + 1_000,
          `closed after ${after} ms, past the ${DEAD_PEER_BOUND_MS} ms bound`,
        );
        // The session is gone too: no connection is counted any more.
        await eventually(() => server.app.hub.stats().connections === 0, 2_000);
      } finally {
        peer.close();
      }
    } finally {
      await server.close();
    }
  },
});

/** A WebSocket client over raw TCP that never answers pings (a link that died). */
class RawPeer {
  #buffer = new Uint8Array(0);
  #eof = false;

  private constructor(readonly conn: Deno.TcpConn) {}

  static async open(base: string, cookie: string): Promise<RawPeer> {
    const url = new URL("/ws", base);
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    const peer = new RawPeer(conn);
    const request = [
      `GET ${url.pathname} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      `Origin: ${url.origin}`,
      `Cookie: ${cookie}`,
    ].join("\r\n") + "\r\n\r\n";
    await conn.write(new TextEncoder().encode(request));
    const head = await peer.#readHead();
    assert.match(head, /^HTTP\/1\.1 101/, head);
    return peer;
  }

  /** Send one masked text frame (clients must mask). */
  async sendText(text: string): Promise<void> {
    const payload = new TextEncoder().encode(text);
    assert.ok(payload.length < 126);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const frame = new Uint8Array(2 + 4 + payload.length);
    frame[0] = 0x81;
    frame[1] = 0x80 | payload.length;
    frame.set(mask, 2);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
    await this.conn.write(frame);
  }

  /** The next text frame's payload; pings met on the way go unanswered. */
  async nextText(): Promise<string> {
    for (;;) {
      const frame = await this.#nextFrame();
      if (!frame) throw new Error("the server closed before it answered");
      if (frame.opcode === 0x1) return new TextDecoder().decode(frame.payload);
    }
  }

  /**
   * Read until the server sends a close frame or ends the connection, or `timeoutMs`
   * passes; count the pings on the way and never answer them.
   */
  async untilClosed(timeoutMs: number): Promise<{ closed: boolean; pings: number; at: number }> {
    let pings = 0;
    const deadline = Date.now() + timeoutMs;
    const timer = setTimeout(() => this.conn.close(), timeoutMs);
    try {
      while (Date.now() < deadline) {
        const frame = await this.#nextFrame().catch(() => null);
        if (!frame || frame.opcode === 0x8) {
          return { closed: Date.now() < deadline, pings, at: Date.now() };
        }
        if (frame.opcode === 0x9) pings++;
      }
      return { closed: false, pings, at: Date.now() };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
    return true;
  }

  async #readHead(): Promise<string> {
    for (;;) {
      const text = new TextDecoder().decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buffer = this.#buffer.subarray(
          new TextEncoder().encode(text.slice(0, end + 4)).length,
        );
        return text.slice(0, end);
      }
      if (!(await this.#fill())) throw new Error("no upgrade response");
    }
  }

  async #nextFrame(): Promise<{ opcode: number; payload: Uint8Array } | null> {
    for (;;) {
      const b = this.#buffer;
      if (b.length >= 2) {
        let length = b[1]! & 0x7f;
        let offset = 2;
        if (length === 126 && b.length >= 4) {
          length = (b[2]! << 8) | b[3]!;
          offset = 4;
        } else if (length === 127 && b.length >= 10) {
          length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
          offset = 10;
        }
        const complete = (length < 126 || offset > 2) && b.length >= offset + length;
        if (complete) {
          this.#buffer = b.subarray(offset + length);
          return { opcode: b[0]! & 0x0f, payload: b.subarray(offset, offset + length) };
        }
      }
      if (!(await this.#fill())) return null;
    }
  }
}
