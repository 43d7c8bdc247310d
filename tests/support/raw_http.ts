/**
 * Raw HTTP/1.1 over TCP, for what fetch will not do: send a forged Host, or a body that
 * trickles in slowly, and time the answer. Every exchange is bounded by `timeoutMs`.
 */

export interface RawAnswer {
  /** The status code, or 0 when none came within the time allowed. */
  status: number;
  /** The response head (status line and headers), lower-cased header names kept as sent. */
  head: string;
  body: string;
  /** Milliseconds from the first byte sent to the status line read. */
  ms: number;
  /** The server closed the connection after answering (or instead of answering). */
  closed: boolean;
}

export interface RawOptions {
  /** Sent at once after the head. */
  body?: string | Uint8Array;
  /** Sent after `body`, one `chunk` every `everyMs`, until the answer comes or `forMs` pass. */
  trickle?: { chunk: Uint8Array; everyMs: number; forMs: number };
  /** Give up waiting for an answer after this long (the answer's status is then 0). */
  timeoutMs?: number;
}

const encoder = new TextEncoder();

/** Send `lines` (request line and headers) and read one response. */
export async function rawRequest(
  port: number,
  lines: string[],
  options: RawOptions = {},
): Promise<RawAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = performance.now();
  let answered = false;
  let closed = false;
  let text = "";
  let statusAt = -1;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let received = new Uint8Array(0);
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) {
        closed = true;
        return;
      }
      const grown = new Uint8Array(received.length + n);
      grown.set(received);
      grown.set(buffer.subarray(0, n), received.length);
      received = grown;
      text = new TextDecoder().decode(received);
      if (statusAt < 0 && text.includes("\r\n")) statusAt = performance.now() - started;
      const end = indexOfBlankLine(received);
      if (end < 0) continue;
      const head = new TextDecoder().decode(received.subarray(0, end));
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length >= end + 4 + length) {
        answered = true;
        // A closing server says so right after its answer; look a moment for that.
        const more = await Promise.race([
          conn.read(buffer).catch(() => null),
          new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 200)),
        ]);
        if (more === null) closed = true;
        return;
      }
    }
  })();
  const writing = (async () => {
    try {
      await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
      if (options.body !== undefined) {
        await writeAll(
          conn,
          typeof options.body === "string" ? encoder.encode(options.body) : options.body,
        );
      }
      const trickle = options.trickle;
      if (!trickle) return;
      const until = performance.now() + trickle.forMs;
      while (!answered && !closed && performance.now() < until) {
        await writeAll(conn, trickle.chunk);
        await new Promise((resolve) => setTimeout(resolve, trickle.everyMs));
      }
    } catch {
      // The server may stop reading and close: what follows is the answer, if any.
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    reading,
    new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
  answered = true; // stops the writer
  try {
    conn.close();
  } catch {
    // already closed
  }
  await Promise.allSettled([reading, writing]);
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0),
    head,
    body: end < 0 ? "" : text.slice(end + 4),
    ms: statusAt,
    closed,
  };
}

/** A chunk of a `Transfer-Encoding: chunked` body carrying `bytes`. */
export function chunk(bytes: Uint8Array): Uint8Array {
  const size = encoder.encode(`${bytes.length.toString(16)}\r\n`);
  const out = new Uint8Array(size.length + bytes.length + 2);
  out.set(size);
  out.set(bytes, size.length);
  out.set(encoder.encode("\r\n"), size.length + bytes.length);
  return out;
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** A WebSocket upgrade with exactly these headers besides the handshake's own (Host too). */
export async function rawUpgrade(
  port: number,
  headers: Record<string, string>,
  path = "/ws",
): Promise<RawAnswer> {
  return await rawRequest(port, [
    `GET ${path} HTTP/1.1`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ], { timeoutMs: 5_000 });
}
