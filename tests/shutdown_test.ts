/**
 * Shutdown keeps its promises: a real server process gets SIGTERM while clients have sends
 * in flight. Every send is either acknowledged before its socket closes with 1012, or was
 * never read (so its resend, with the same nonce, stores it for the first time): nothing
 * is committed without its acknowledgement reaching the sender.
 */
import assert from "node:assert/strict";
import { CLOSE_CODES, shouldReconnect } from "../protocol/errors.ts";
import { createChatServer } from "../mod.ts";
import { ConfigError, parseConfig } from "../server/config.ts";
import { eventually, signIn, TestClient } from "./helpers.ts";
import { type ServerProcess, spawnServer } from "./process.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;

/** No budget gets in the way of a burst; accounts are cheap to make. */
const UNLIMITED = {
  PARLEY_MESSAGE_RATE: "100000",
  PARLEY_MESSAGE_BURST: "100000",
  PARLEY_FRAME_RATE: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_PASSWORD_COST: "10",
};

/** What a browser reports for a connection dropped without a close frame. */
const ABNORMAL = 1006;

type Outcome = "ok" | "none" | `error:${string}`;

interface Sent {
  /** Which client sent it. */
  client: number;
  nonce: string;
  text: string;
  outcome: Outcome;
  /** When the reply arrived, relative to the signal (negative: before it). */
  at: number;
}

/**
 * Keep `window` sends in flight on `client` until its socket closes, recording how each
 * ended: its reply, or none when the socket closed first.
 */
function keepSending(client: TestClient, index: number, window: number, signalledAt: () => number) {
  const sent: Sent[] = [];
  let n = 0;
  const one = async (): Promise<void> => {
    while (client.socket.readyState === WebSocket.OPEN) {
      const nonce = `nonce-${index}-${n++}`;
      const text = `client ${index} says ${nonce}`;
      const entry: Sent = { client: index, nonce, text, outcome: "none", at: 0 };
      sent.push(entry);
      try {
        const reply = await client.requestRaw({
          type: "send",
          room: "general",
          text: entry.text,
          nonce,
        });
        entry.outcome = "error" in reply ? `error:${reply.error.code}` : "ok";
        entry.at = performance.now() - signalledAt();
        if (entry.outcome !== "ok") return;
      } catch {
        return; // the socket closed before the reply: "none"
      }
    }
  };
  const done = Promise.all(Array.from({ length: window }, one)).then(() => sent);
  return { sent, done };
}

async function connectAll(server: ServerProcess, names: string[]) {
  const identities = [];
  const clients = [];
  for (const name of names) {
    const identity = await signIn(server, name);
    const client = await TestClient.open(server, identity);
    await client.request("room.join", { room: "general" });
    identities.push(identity);
    clients.push(client);
  }
  return { identities, clients };
}

Deno.test("shutdown: SIGTERM answers every send it read, then closes with 1012", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-drain-" });
  const env = { ...UNLIMITED, PARLEY_LOG_LEVEL: "info" };
  let server = await spawnServer([SERVER, "--data", dir], { env });
  try {
    const names = ["Ada", "Bob", "Cy", "Dee"];
    const { identities, clients } = await connectAll(server, names);
    let signalledAt = Infinity;
    const senders = clients.map((c, i) => keepSending(c, i, 12, () => signalledAt));
    // Steady state first: acks are flowing on every socket.
    await eventually(() =>
      senders.every((s) => s.sent.filter((e) => e.outcome === "ok").length > 30)
    );
    assert.ok(senders.every((s) => s.sent.every((e) => !e.outcome.startsWith("error"))));
    signalledAt = performance.now();
    const exited = server.stop("SIGTERM");
    const closes = await Promise.all(clients.map((c) => c.closed));
    const sent = (await Promise.all(senders.map((s) => s.done))).flat();
    assert.equal(await exited, 0, server.log());
    assert.doesNotMatch(server.log(), /Uncaught|error/i);
    for (const close of closes) assert.equal(close.code, CLOSE_CODES.serviceRestart);

    const acked = sent.filter((e) => e.outcome === "ok");
    const unanswered = sent.filter((e) => e.outcome !== "ok");
    for (const e of unanswered) assert.equal(e.outcome, "none", `${e.nonce}: ${e.outcome}`);
    const duringDrain = acked.filter((e) => e.at > 0).length;
    const drained = Number(server.log().match(/drained answered=(\d+)/)?.[1] ?? NaN);
    assert.ok(duringDrain >= drained, "what the drain answered arrived after the signal");
    console.log(
      `sent ${sent.length}: ${acked.length} acked, ${duringDrain} of them after SIGTERM ` +
        `(the server answered ${drained} during its drain), ${unanswered.length} never read`,
    );

    // Start again on the same data: a send never acknowledged was never committed.
    server = await spawnServer([SERVER, "--data", dir], { env });
    const committedUnacked = await resendAfterRestart(server, identities, sent);
    assert.deepEqual(committedUnacked, [], "committed, but the ack never left");
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Resend every unanswered send, as a client's outbox does after reconnecting, and return
 * those the store already had (committed, yet never acknowledged). Checks that whatever
 * was acknowledged is stored, and that every nonce is stored exactly once.
 */
async function resendAfterRestart(
  server: ServerProcess,
  identities: { cookie: string; user: { id: string; name: string } }[],
  sent: Sent[],
): Promise<string[]> {
  const clients = await Promise.all(identities.map((id) => TestClient.open(server, id)));
  for (const c of clients) await c.request("room.join", { room: "general" });
  const resend = (e: Sent) =>
    clients[e.client]!.request("send", { room: "general", text: e.text, nonce: e.nonce });
  const committedUnacked: string[] = [];
  for (const e of sent.filter((e) => e.outcome !== "ok")) {
    if ((await resend(e)).duplicate) committedUnacked.push(e.nonce);
  }
  for (const e of sent.filter((e) => e.outcome === "ok").slice(-5)) {
    assert.ok((await resend(e)).duplicate, `${e.nonce} was acknowledged, so it is stored`);
  }
  const last = await clients[0]!.request("history", { room: "general", limit: 1 });
  assert.equal(last.messages[0]!.seq, sent.length, "every nonce stored exactly once, gapless");
  for (const c of clients) await c.close();
  return committedUnacked;
}

Deno.test("shutdown: a second SIGTERM, and a SIGINT after it, change nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-drain-" });
  const server = await spawnServer([SERVER, "--data", dir], {
    env: { ...UNLIMITED, PARLEY_LOG_LEVEL: "info" },
  });
  let peer: Deno.Conn | undefined;
  try {
    const { identities, clients } = await connectAll(server, ["Ada", "Bob"]);
    // A peer that never answers the close handshake holds the shutdown open for a while.
    peer = await silentPeer(server, identities[0]!.cookie);
    const senders = clients.map((c, i) => keepSending(c, i, 8, () => 0));
    await eventually(() => senders.every((s) => s.sent.length > 20));
    const exited = server.stop("SIGTERM");
    // Signals sent at once may merge into one; send the next while the first is handled.
    await eventually(() => /shutting down/.test(server.log()));
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(server.signal("SIGTERM"), "still running when the second signal comes");
    await new Promise((r) => setTimeout(r, 20));
    server.signal("SIGINT");
    await Promise.all(senders.map((s) => s.done));
    assert.equal(await exited, 0, server.log());
    assert.doesNotMatch(server.log(), /Uncaught|BadResource|error/i);
  } finally {
    peer?.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shutdown: under deno serve --parallel, sockets close with a documented reconnect code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-drain-" });
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", "-A", "--parallel", "--host", "127.0.0.1", "--port", String(port), SERVER],
    env: {
      ...UNLIMITED,
      DENO_JOBS: "2",
      NO_COLOR: "1",
      PARLEY_DATA: dir,
      PARLEY_LOG_LEVEL: "info",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([child.stdout, child.stderr].map((s) => new Response(s).text()));
  const server = { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`, port };
  try {
    for (let i = 0; !(await fetch(`${server.url}/healthz`).then((r) => r.ok, () => false)); i++) {
      assert.ok(i < 300, "deno serve did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
    // The kernel spreads connections over the workers; open until both hold one. The second
    // worker may start listening a moment after the first answers, so wait a little each time.
    const clients: TestClient[] = [];
    const identities = [];
    const instances = new Set<string>();
    for (let i = 0; i < 60 && (instances.size < 2 || clients.length < 4); i++) {
      if (i >= 4) await new Promise((r) => setTimeout(r, 100));
      const identity = await signIn(server, `User${i}`);
      const client = await TestClient.open(server, identity, { hello: false });
      instances.add((await client.request("hello", { v: [1] })).instance);
      await client.request("room.join", { room: "general" });
      clients.push(client);
      identities.push(identity);
    }
    assert.equal(instances.size, 2, "connections landed on both workers");
    const senders = clients.map((c, i) => keepSending(c, i, 8, () => 0));
    await eventually(() =>
      senders.every((s) => s.sent.filter((e) => e.outcome === "ok").length > 20)
    ).catch(async (error) => {
      const outcomes = senders.map((s) => s.sent.map((e) => e.outcome).filter((o) => o !== "ok"));
      child.kill("SIGKILL");
      const log = (await output)[1]!.slice(-4000);
      throw new Error(`${error.message}: ${JSON.stringify(outcomes)}\n${log}`);
    });
    child.kill("SIGTERM");
    const closes = await Promise.all(clients.map((c) => c.closed));
    const sent = (await Promise.all(senders.map((s) => s.done))).flat();
    const status = await child.status;
    const stderr = (await output)[1]!;
    assert.equal(status.code, 0, stderr);
    assert.doesNotMatch(stderr, /Uncaught|error/i);
    // Deno's handler closes with 1001, and at times drops the connection without a close
    // frame (it resets a connection with frames unread): browsers report that as 1006.
    const codes = new Set(closes.map((c) => c.wasClean ? c.code : ABNORMAL));
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const closeCodes = readme.slice(readme.indexOf("**Close codes**")).split("\n\n")[0]!;
    const shutdown = readme.slice(readme.indexOf("\n## Shutdown")).split(/\n## (?!Shutdown)/)[0]!;
    for (const code of codes) {
      assert.ok([CLOSE_CODES.goingAway, ABNORMAL].includes(code), `${code}`);
      assert.ok(shouldReconnect(code), `the web client reconnects after ${code}`);
      if (code !== ABNORMAL) {
        assert.match(closeCodes, new RegExp(`\\b${code}\\b`), `the README lists ${code}`);
      }
      assert.match(
        shutdown,
        new RegExp(`deno serve[^]*\`${code}\``),
        `the README says why ${code}`,
      );
    }
    for (const e of sent) assert.ok(e.outcome === "ok" || e.outcome === "none", e.outcome);
    // Deno closed the sockets before the drain could write its answers: those sends were
    // committed, and a resend with the same nonce returns them (nothing lost or doubled).
    const drained = [...stderr.matchAll(/drained answered=(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(drained.length, 2, "each worker drains");
    const restarted = await spawnServer([SERVER, "--data", dir], { env: UNLIMITED });
    try {
      const committedUnacked = await resendAfterRestart(restarted, identities, sent);
      console.log(
        `deno serve: sockets closed with ${[...codes].join(", ")}; the workers' drains ` +
          `answered ${drained.join(" + ")} requests; ${committedUnacked.length} sends were ` +
          "committed but unacknowledged, and their resends came back duplicate",
      );
    } finally {
      await restarted.stop();
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await child.status;
    await output;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shutdown: the drain stops at its deadline, and closes the sockets anyway", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const chat = await createChatServer({
    data: ":memory:",
    log: "silent",
    auth: { passwordCost: 10 },
    limits: { drainTimeoutMs: 300, hookTimeoutMs: 60_000 },
    hooks: {
      beforeSend: async (message) => {
        if (message.text === "hold") await held;
      },
    },
  });
  const http = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, chat.fetch);
  const url = `http://127.0.0.1:${http.addr.port}`;
  try {
    const ada = await TestClient.connect({ url, wsUrl: `${url.replace("http", "ws")}/ws` }, "Ada");
    await ada.request("room.join", { room: "general" });
    const holding = ada.requestRaw({
      type: "send",
      room: "general",
      text: "hold",
      nonce: "nonce-hold",
    }).then(() => "answered", () => "no answer");
    // Frames are read in order: once this is answered, the held one is in flight.
    await ada.request("send", { room: "general", text: "quick", nonce: "nonce-quick" });
    const started = performance.now();
    await chat.close();
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 2000, `close took ${took} ms`);
    assert.equal((await ada.closed).code, CLOSE_CODES.serviceRestart);
    assert.equal(await holding, "no answer");
  } finally {
    release();
    await http.shutdown();
  }
});

Deno.test("shutdown: --drain-timeout and PARLEY_DRAIN_TIMEOUT take seconds", () => {
  const parse = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseConfig(args, (name) => env[name]);
    assert.ok(!parsed.help);
    return parsed.config.drainTimeoutMs;
  };
  assert.equal(parse([]), 10_000);
  assert.equal(parse(["--drain-timeout", "2.5"]), 2500);
  assert.equal(parse([], { PARLEY_DRAIN_TIMEOUT: "0" }), 0);
  assert.throws(() => parse(["--drain-timeout", "soon"]), ConfigError);
  assert.throws(() => parse(["--drain-timeout", "-1"]), ConfigError);
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Open a WebSocket by hand, then never read from it again. */
async function silentPeer(server: ServerProcess, cookie: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const request = [
    "GET /ws HTTP/1.1",
    `Host: 127.0.0.1:${server.port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    `Origin: http://127.0.0.1:${server.port}`,
    `Cookie: ${cookie}`,
  ];
  await conn.write(new TextEncoder().encode(request.join("\r\n") + "\r\n\r\n"));
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1.1 101/);
  return conn;
}
