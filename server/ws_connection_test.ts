import assert from "node:assert/strict";
import { CLOSE_CODES } from "../protocol/errors.ts";
import { decodeServerData } from "../protocol/frames.ts";
import { tick } from "../tests/fakes.ts";
import { WebSocketConnection } from "./ws_connection.ts";

/** Just enough of a WebSocket: bytes stay "buffered" until the test drains them. */
class FakeSocket {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  readonly messages: string[] = [];
  closedWith: number | null = null;
  send(data: string) {
    this.messages.push(data);
    this.bufferedAmount += data.length;
  }
  close(code: number) {
    this.closedWith = code;
    this.readyState = WebSocket.CLOSING;
  }
}

const user = { id: "u_1", name: "Ada" };
const principal = { user, role: "user" as const, via: "session" as const };
const frame = (n: number) =>
  JSON.stringify({ type: "typing", room: "r", user, active: n % 2 === 0 });

Deno.test("ws connection: what one task sends goes out at its end, as one frame", async () => {
  const socket = new FakeSocket();
  const conn = new WebSocketConnection(socket as unknown as WebSocket, principal);
  conn.send(frame(0));
  await Promise.resolve();
  assert.equal(socket.messages.length, 1, "a lone frame leaves in a microtask, with no timer");
  assert.deepEqual(socket.messages[0], frame(0), "and alone, unwrapped");
  for (let i = 1; i <= 5; i++) conn.send(frame(i));
  assert.equal(socket.messages.length, 1, "nothing is written during the task");
  await Promise.resolve();
  assert.equal(socket.messages.length, 2, "flushed as one message");
  const batch = decodeServerData(socket.messages[1]!);
  assert.deepEqual(batch, [1, 2, 3, 4, 5].map((i) => JSON.parse(frame(i))));
});

Deno.test("ws connection: a large burst leaves in frames of at most 64 KiB, in order", async () => {
  const socket = new FakeSocket();
  const conn = new WebSocketConnection(socket as unknown as WebSocket, principal, 8 * 1024 * 1024);
  const parts = Array.from(
    { length: 600 },
    (_, i) =>
      JSON.stringify({
        type: "error",
        error: { code: "internal", message: `${i} ${"x".repeat(500)}` },
      }),
  );
  for (const part of parts) conn.send(part);
  await Promise.resolve();
  assert.ok(socket.messages.length >= 5, `split into ${socket.messages.length} frames`);
  for (const message of socket.messages) assert.ok(message.length <= 64 * 1024 + 600);
  assert.deepEqual(socket.messages.flatMap(decodeServerData), parts.map((p) => JSON.parse(p)));
});

Deno.test("ws connection: a consumer that falls too far behind is dropped to recover later", async () => {
  const socket = new FakeSocket();
  const conn = new WebSocketConnection(socket as unknown as WebSocket, principal, 64 * 1024);
  const big = JSON.stringify({
    type: "error",
    error: { code: "internal", message: "x".repeat(8000) },
  });
  // The peer reads nothing: the socket fills past the limit, then our held queue does too.
  for (let i = 0; i < 40 && socket.closedWith === null; i++) {
    conn.send(big);
    await Promise.resolve();
  }
  assert.equal(socket.closedWith, CLOSE_CODES.slowConsumer);
  assert.ok(socket.bufferedAmount <= 64 * 1024 + 8100, "no more written once over the limit");
  const before = socket.messages.length;
  conn.send(big);
  await tick();
  assert.equal(socket.messages.length, before, "nothing more is queued or sent after the drop");
});

Deno.test("ws connection: after one large reply, later frames wait until the socket drains", async () => {
  const socket = new FakeSocket();
  const conn = new WebSocketConnection(socket as unknown as WebSocket, principal, 64 * 1024);
  conn.send("x".repeat(200 * 1024)); // e.g. a long replay: sent at once while idle
  await Promise.resolve();
  conn.send(frame(1));
  conn.send(frame(2));
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(socket.messages.length, 1, "held while the socket is over the limit");
  assert.equal(socket.closedWith, null, "a big reply alone is not a slow consumer");
  socket.bufferedAmount = 0; // the peer read it
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(socket.messages.length, 2);
  assert.deepEqual(decodeServerData(socket.messages[1]!), [
    JSON.parse(frame(1)),
    JSON.parse(frame(2)),
  ]);
});

Deno.test("ws connection: a send that throws releases the connection instead of throwing", () => {
  const socket = new FakeSocket();
  socket.send = () => {
    throw new DOMException("Already closed", "InvalidStateError");
  };
  let released = 0;
  const conn = new WebSocketConnection(
    socket as unknown as WebSocket,
    principal,
    64 * 1024,
    () => released++,
  );
  conn.send(frame(1)); // must not throw into the broadcast that called it
  conn.close(CLOSE_CODES.slowConsumer, "x");
  assert.equal(released, 1, "released once");
});

Deno.test("ws connection: flushed() settles once the socket has written what was queued", async () => {
  const socket = new FakeSocket();
  const conn = new WebSocketConnection(socket as unknown as WebSocket, principal);
  conn.send(frame(0));
  let settled = false;
  const flushed = conn.flushed().then(() => (settled = true));
  assert.equal(socket.messages.length, 1, "what was queued is handed to the socket at once");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(settled, false, "not while the socket still buffers it");
  socket.bufferedAmount = 0;
  await flushed;
});
