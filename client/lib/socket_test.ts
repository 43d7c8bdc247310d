import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { backoffDelay, type ConnectionStatus, ParleySocket, RequestError } from "./socket.ts";

/** A scripted server: answers each frame through `reply`, and can drop connections. */
function fakeServer(reply: (frame: { type: string; id: number }, ws: WebSocket) => void) {
  const sockets = new Set<WebSocket>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    sockets.add(socket);
    socket.onmessage = (ev) => reply(JSON.parse(ev.data), socket);
    socket.onclose = () => sockets.delete(socket);
    return response;
  });
  return { url: `ws://127.0.0.1:${server.addr.port}/ws`, server, sockets };
}

const HELLO_OK = { v: 1, user: { id: "u1", name: "Alice" }, epoch: "e1", limits: {} };

function waitFor(socket: ParleySocket, state: ConnectionStatus["state"]): Promise<void> {
  return new Promise((resolve) => {
    if (socket.status.state === state) return resolve();
    const off = socket.onStatus((s) => {
      if (s.state === state) {
        off();
        resolve();
      }
    });
  });
}

Deno.test("ParleySocket says hello first, matches replies by id and reads batched frames", async () => {
  const seen: string[] = [];
  const fake = fakeServer((frame, ws) => {
    seen.push(frame.type);
    if (frame.type === "hello") {
      ws.send(JSON.stringify({ type: "reply", id: frame.id, ok: HELLO_OK }));
    }
    if (frame.type === "room.list") {
      // A push and the reply coalesced into one WebSocket message.
      ws.send(JSON.stringify([
        { type: "typing", room: "general", user: HELLO_OK.user, active: true },
        { type: "reply", id: frame.id, ok: { rooms: [] } },
      ]));
    }
    if (frame.type === "room.join") {
      ws.send(JSON.stringify({
        type: "reply",
        id: frame.id,
        error: { code: "room_not_found", message: "No such room." },
      }));
    }
  });
  const typing: string[] = [];
  const socket = new ParleySocket({ url: fake.url });
  socket.on("typing", (f) => typing.push(f.user.name));
  socket.connect();
  await waitFor(socket, "connected");
  deepStrictEqual(await socket.request("room.list", {}), { rooms: [] });
  deepStrictEqual(typing, ["Alice"]);
  await rejects(socket.request("room.join", { room: "nope" }), (err: RequestError) => {
    ok(err instanceof RequestError);
    strictEqual(err.code, "room_not_found");
    return true;
  });
  deepStrictEqual(seen, ["hello", "room.list", "room.join"]);
  socket.close();
  await fake.server.shutdown();
});

Deno.test("ParleySocket reconnects after a retryable close and stops after a fatal one", async () => {
  let hellos = 0;
  const fake = fakeServer((frame, ws) => {
    if (frame.type !== "hello") return;
    hellos++;
    ws.send(JSON.stringify({ type: "reply", id: frame.id, ok: HELLO_OK }));
  });
  const socket = new ParleySocket({ url: fake.url, backoffMinMs: 10, backoffMaxMs: 20 });
  socket.connect();
  await waitFor(socket, "connected");
  for (const ws of fake.sockets) ws.close(4101, "shutting down");
  await waitFor(socket, "offline");
  ok(socket.status.state === "offline" && socket.status.retryAt !== null);
  await waitFor(socket, "connected");
  strictEqual(hellos, 2);
  for (const ws of fake.sockets) ws.close(4001, "unauthorized");
  await waitFor(socket, "offline");
  deepStrictEqual(socket.status, { state: "offline", retryAt: null, closeCode: 4001 });
  await rejects(socket.request("ping", {}), (err: RequestError) => err.code === "disconnected");
  await fake.server.shutdown();
});

Deno.test("ParleySocket rejects a request the server never answers", async () => {
  const fake = fakeServer((frame, ws) => {
    if (frame.type === "hello") {
      ws.send(JSON.stringify({ type: "reply", id: frame.id, ok: HELLO_OK }));
    }
  });
  const socket = new ParleySocket({ url: fake.url, requestTimeoutMs: 50 });
  socket.connect();
  await waitFor(socket, "connected");
  await rejects(socket.request("ping", {}), (err: RequestError) => err.code === "timeout");
  socket.close();
  await fake.server.shutdown();
});

Deno.test("backoffDelay doubles from the minimum up to the maximum, jittered by ±50%", () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const base = Math.min(10_000, 500 * 2 ** attempt);
    const delay = backoffDelay(attempt, 500, 10_000);
    ok(delay >= base * 0.5 && delay <= base * 1.5, `attempt ${attempt}: ${delay}`);
  }
});

Deno.test("ParleySocket drops a link whose ping goes unanswered, and says it is reconnecting", async () => {
  let answering = true;
  const fake = fakeServer((frame, ws) => {
    if (!answering) return; // A dead link: nothing comes back, and nothing closes.
    ws.send(
      JSON.stringify({
        type: "reply",
        id: frame.id,
        ok: frame.type === "hello" ? HELLO_OK : { ts: 1 },
      }),
    );
  });
  const seen: ConnectionStatus[] = [];
  const socket = new ParleySocket({
    url: fake.url,
    heartbeatMs: 50,
    heartbeatTimeoutMs: 100,
    backoffMinMs: 10,
    backoffMaxMs: 20,
  });
  socket.onStatus((s) => seen.push(s));
  socket.connect();
  await waitFor(socket, "connected");
  await new Promise((r) => setTimeout(r, 200)); // Pings answered: still the first connection.
  strictEqual(seen.filter((s) => s.state === "connected").length, 1);
  answering = false;
  const started = Date.now();
  await waitFor(socket, "offline");
  ok(Date.now() - started <= 50 + 100 + 100, `dropped after ${Date.now() - started} ms`);
  ok(socket.status.state === "offline" && socket.status.retryAt !== null);
  // The retry is a reconnect, and it hangs too: given up on, and tried again.
  await waitFor(socket, "connecting");
  deepStrictEqual(socket.status, { state: "connecting", retrying: true });
  await waitFor(socket, "offline");
  answering = true;
  await waitFor(socket, "connected");
  socket.close();
  await fake.server.shutdown();
});
