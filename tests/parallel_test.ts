/**
 * `deno serve --parallel server.ts` with two workers: they share the KV file and fan out
 * over BroadcastChannel, so clients on different workers see one timeline.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/messages.ts";
import { signIn, TestClient } from "./helpers.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("parallel: two workers of deno serve share one gapless timeline", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-parallel-" });
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", "-A", "--parallel", "--host", "127.0.0.1", "--port", String(port), SERVER],
    env: {
      DENO_JOBS: "2",
      NO_COLOR: "1",
      PARLEY_DATA: dir,
      PARLEY_LOG_LEVEL: "warn",
      PARLEY_MESSAGE_RATE: "100000",
      PARLEY_MESSAGE_BURST: "100000",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([child.stdout, child.stderr].map((s) => new Response(s).text()));
  const server = { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` };
  const clients: TestClient[] = [];
  try {
    // Wait for the workers to answer.
    for (let i = 0;; i++) {
      const ok = await fetch(`${server.url}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(i < 300, "deno serve did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
    // The kernel spreads connections over the workers; open until both hold some. The second
    // worker may start listening a moment after the first answers, so wait a little each time.
    const byInstance = new Map<string, TestClient[]>();
    for (
      let i = 0;
      i < 60 && (byInstance.size < 2 || [...byInstance.values()].some((l) => l.length < 2));
      i++
    ) {
      if (i >= 4) await new Promise((r) => setTimeout(r, 100));
      const id = await signIn(server, `User${i}`);
      const client = await TestClient.open(server, id, { hello: false });
      clients.push(client);
      const { instance } = await client.request("hello", { v: [1] });
      byInstance.set(instance, [...byInstance.get(instance) ?? [], client]);
    }
    assert.equal(byInstance.size, 2, "connections landed on both workers");
    const [one, two] = [...byInstance.values()].map((list) => list.slice(0, 2));
    const members = [...one!, ...two!];
    for (const c of members) await c.request("room.join", { room: "general" });

    // Everyone sends at once; both workers commit to the same room concurrently.
    const perClient = 25;
    await Promise.all(members.map(async (c, i) => {
      for (let n = 0; n < perClient; n++) {
        await c.request("send", { room: "general", text: `c${i} m${n}`, nonce: `par-${i}-${n}-x` });
      }
    }));
    const total = members.length * perClient;
    const timelines = await Promise.all(members.map(async (c) => {
      // Live pushes from the other worker arrive over the bus; wait until all are in.
      for (let i = 0; i < 200; i++) {
        const seqs = new Set(c.pushes("message").map((m) => m.message.seq));
        if (seqs.size >= total) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const seen = new Map<number, Message>();
      for (const push of c.pushes("message")) seen.set(push.message.seq, push.message);
      return [...seen.values()].sort((a, b) => a.seq - b.seq);
    }));
    const reference = timelines[0]!;
    assert.deepEqual(
      reference.map((m) => m.seq),
      Array.from({ length: total }, (_, i) => i + 1),
      "gapless",
    );
    for (const timeline of timelines) {
      assert.deepEqual(
        timeline.map((m) => m.id),
        reference.map((m) => m.id),
        "one timeline, same seqs",
      );
    }
    const history = await two![0]!.request("history", { room: "general", after: 0, limit: 100 });
    assert.deepEqual(history.messages.map((m) => m.id), reference.slice(0, 100).map((m) => m.id));
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    child.kill("SIGTERM");
    await child.status;
    await output;
    await Deno.remove(dir, { recursive: true });
  }
});
