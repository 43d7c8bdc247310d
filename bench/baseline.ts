/**
 * The baselines Parley is measured against: `Deno.serve` + `Deno.upgradeWebSocket`,
 * rooms as Sets, no validation, no storage. They answer just enough of Parley's
 * protocol (sign-in, hello, room.create, room.join, send) for the load generator to
 * run unchanged. `coalesce` sends everything a socket is due in one task as one frame.
 */
import { parseArgs } from "node:util";

export interface BaselineOptions {
  port: number;
  hostname: string;
  coalesce: boolean;
}

interface Peer {
  socket: WebSocket;
  user: { id: string; name: string };
  /** Frames waiting for this task's end (coalescing only). */
  queue: string[];
}

export function serveBaseline(options: BaselineOptions): Deno.HttpServer {
  const rooms = new Map<string, { peers: Set<Peer>; seq: number }>();
  let users = 0;
  const dirty = new Set<Peer>();
  let flushScheduled = false;

  const flush = () => {
    flushScheduled = false;
    for (const peer of dirty) {
      const q = peer.queue;
      if (peer.socket.readyState === WebSocket.OPEN) {
        peer.socket.send(q.length === 1 ? q[0]! : `[${q.join(",")}]`);
      }
      peer.queue = [];
    }
    dirty.clear();
  };

  const deliver = options.coalesce
    ? (peer: Peer, data: string) => {
      peer.queue.push(data);
      dirty.add(peer);
      if (!flushScheduled) {
        flushScheduled = true;
        setTimeout(flush, 0);
      }
    }
    : (peer: Peer, data: string) => {
      if (peer.socket.readyState === WebSocket.OPEN) peer.socket.send(data);
    };

  const reply = (peer: Peer, id: unknown, ok: unknown) =>
    deliver(peer, JSON.stringify({ type: "reply", id, ok }));

  function receive(peer: Peer, joined: Set<string>, data: unknown) {
    if (typeof data !== "string") return;
    let frame: { type?: string; id?: number; room?: string; text?: string; nonce?: string };
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        return reply(peer, frame.id, { v: 1, user: peer.user });
      case "room.create":
      case "room.join": {
        const name = String(frame.room);
        let room = rooms.get(name);
        if (!room) rooms.set(name, room = { peers: new Set(), seq: 0 });
        if (frame.type === "room.join") {
          room.peers.add(peer);
          joined.add(name);
        }
        return reply(peer, frame.id, { room: { name }, messages: [], hasMore: false });
      }
      case "send": {
        const room = rooms.get(String(frame.room));
        if (!room) return;
        const seq = ++room.seq;
        // The same fields Parley's entries carry, so frames weigh about the same.
        const message = {
          id: `${frame.room}:${seq}:bare`,
          room: frame.room,
          seq,
          author: peer.user,
          ts: Date.now(),
          kind: "text",
          text: frame.text,
          nonce: frame.nonce,
        };
        const push = JSON.stringify({ type: "message", message });
        for (const member of room.peers) deliver(member, push);
        return reply(peer, frame.id, { message, duplicate: false });
      }
      default:
        return reply(peer, frame.id, {});
    }
  }

  function upgrade(request: Request): Response {
    const uid = new URL(request.url).searchParams.get("uid") ?? `u_${++users}`;
    const { socket, response } = Deno.upgradeWebSocket(request);
    const peer: Peer = { socket, user: { id: uid, name: uid }, queue: [] };
    const joined = new Set<string>();
    socket.onmessage = (event) => receive(peer, joined, event.data);
    socket.onclose = () => {
      for (const name of joined) rooms.get(name)?.peers.delete(peer);
      dirty.delete(peer);
    };
    socket.onerror = () => {};
    return response;
  }

  async function signIn(request: Request): Promise<Response> {
    const body = await request.json().catch(() => ({})) as { name?: unknown };
    const user = { id: `u_${++users}`, name: String(body.name ?? "anon") };
    return Response.json({ user }, {
      headers: { "set-cookie": `bare_id=${user.id}; Path=/; HttpOnly` },
    });
  }

  return Deno.serve(
    { port: options.port, hostname: options.hostname, onListen() {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/ws") return upgrade(request);
      if (path === "/api/session" && request.method === "POST") return signIn(request);
      if (path === "/healthz") return Response.json({ ok: true });
      return new Response("not found", { status: 404 });
    },
  );
}

/** `deno run -A bench/baseline_bare.ts --port N [--hostname H]`. */
export async function runBaselineCli(args: string[], coalesce: boolean): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { port: { type: "string", default: "8001" }, hostname: { type: "string" } },
  });
  const server = serveBaseline({
    port: Number(values.port),
    hostname: values.hostname ?? "127.0.0.1",
    coalesce,
  });
  // Nothing to save: exit at once rather than wait for thousands of sockets to close.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => Deno.exit(0));
  }
  console.error(`baseline listening on http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/`);
  await server.finished;
}
