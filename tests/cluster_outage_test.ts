/**
 * The cluster under failure: a process killed with -9, Redis away for 10 s, PostgreSQL
 * restarted. Acknowledged messages lost: 0, and every client's stream ends gapless.
 */
import assert from "node:assert/strict";
import { type Closer, clusterTest } from "./support/cluster.ts";
import { RecoveringClient } from "./recovering_client.ts";
import type { ServerProcess } from "./process.ts";
import { TestClient } from "./helpers.ts";

const ROOM = "general";

/** Clients that send at a steady pace, each on its own process, until told to stop. */
function traffic(clients: RecoveringClient[], everyMs = 20) {
  let stop = false;
  const loops = clients.map(async (client, i) => {
    for (let n = 0; !stop && n < 5_000; n++) {
      if (client.connected) await client.send(ROOM, `c${i} #${n}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  });
  return async () => {
    stop = true;
    await Promise.all(loops);
  };
}

/** Every client reconnects where it must, flushes its outbox, and sees one gapless stream. */
async function settle(clients: RecoveringClient[], nodes: ServerProcess[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const client of clients) {
    while (!client.connected || client.outbox.size > 0) {
      if (Date.now() > deadline) throw new Error("clients did not settle in time");
      if (!client.connected) {
        client.server = nodes[Math.floor(Math.random() * nodes.length)]!;
        await client.connect().catch(() => {});
      } else {
        await client.flush();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Live pushes and catch-up reads land; then every stream must be whole.
  const highest = () => Math.max(...clients.flatMap((c) => [...c.acked.values()]));
  const top = highest();
  const end = Date.now() + 15_000;
  while (clients.some((c) => c.lastSeq(ROOM) < top) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const client of clients) {
    assert.ok(client.lastSeq(ROOM) >= top, `a client stopped at ${client.lastSeq(ROOM)} of ${top}`);
  }
}

/** Everything acknowledged to anyone is in the stream, at the seq it was acknowledged with. */
function assertNothingLost(clients: RecoveringClient[]): number {
  const timeline = clients[0]!.timeline.get(ROOM)!;
  let acked = 0;
  for (const client of clients) {
    for (const [nonce, seq] of client.acked) {
      acked++;
      assert.equal(timeline.get(seq)?.nonce, nonce, `acknowledged ${nonce} missing at ${seq}`);
    }
  }
  const nonces = [...timeline.values()].map((m) => m.nonce).filter(Boolean);
  assert.equal(new Set(nonces).size, nonces.length, "no message stored twice");
  return acked;
}

async function clientsOn(
  nodes: ServerProcess[],
  count: number,
  closeLater: Closer,
): Promise<RecoveringClient[]> {
  const clients: RecoveringClient[] = [];
  for (let i = 0; i < count; i++) {
    const client = await RecoveringClient.create(nodes[i % nodes.length]!, `peer${i}`, [ROOM]);
    await client.connect();
    clients.push(closeLater(client));
  }
  return clients;
}

clusterTest(
  "cluster: kill -9 of one process mid-stream loses nothing acknowledged",
  { nodes: 3 },
  async (cluster, closeLater) => {
    const clients = await clientsOn(cluster.nodes, 6, closeLater);
    const stop = traffic(clients);
    await new Promise((r) => setTimeout(r, 1500));
    const victim = cluster.nodes[1]!;
    assert.equal(await victim.stop("SIGKILL"), 137);
    await new Promise((r) => setTimeout(r, 1500));
    await stop();
    const alive = cluster.nodes.filter((n) => n !== victim);
    await settle(clients, alive);
    const acked = assertNothingLost(clients);
    assert.ok(acked > 100, `only ${acked} acknowledged`);
    assert.ok(clients.some((c) => c.reconnects > 1), "the victim's clients moved");
    console.log(`kill -9: ${acked} acknowledged, 0 lost`);
  },
);

clusterTest("cluster: Redis away for 10 s degrades delivery, loses nothing, and resyncs", {
  nodes: 2,
}, async (cluster, closeLater) => {
  const clients = await clientsOn(cluster.nodes, 4, closeLater);
  const stop = traffic(clients, 50);
  await new Promise((r) => setTimeout(r, 500));
  await cluster.redis.pause();
  await new Promise((r) => setTimeout(r, 1500));
  const ready = await fetch(`${cluster.nodes[0]!.url}/readyz`);
  assert.equal(ready.status, 503, "readyz says the bus is down");
  assert.equal((await ready.json()).bus, "down");
  const health = await fetch(`${cluster.nodes[0]!.url}/healthz`);
  assert.equal(health.status, 200, "the process itself is up");
  await health.body?.cancel();
  const before = clients.reduce((n, c) => n + c.acked.size, 0);
  await new Promise((r) => setTimeout(r, 8500));
  const during = clients.reduce((n, c) => n + c.acked.size, 0) - before;
  assert.ok(during > 20, `sends committed while Redis was down (${during})`);
  await cluster.redis.resume();
  await new Promise((r) => setTimeout(r, 1500));
  await stop();
  const back = await fetch(`${cluster.nodes[0]!.url}/readyz`);
  assert.equal(back.status, 200, "ready again once Redis is back");
  await back.body?.cancel();
  await settle(clients, cluster.nodes);
  const acked = assertNothingLost(clients);
  console.log(`redis outage: ${acked} acknowledged (${during} while down), 0 lost`);
});

clusterTest(
  "cluster: a PostgreSQL restart fails sends retryably and loses nothing",
  { nodes: 2 },
  async (cluster, closeLater) => {
    const clients = await clientsOn(cluster.nodes, 4, closeLater);
    const stop = traffic(clients, 30);
    await new Promise((r) => setTimeout(r, 800));
    await cluster.postgres.restart();
    await new Promise((r) => setTimeout(r, 1500));
    await stop();
    await settle(clients, cluster.nodes);
    const acked = assertNothingLost(clients);
    assert.ok(acked > 50, `only ${acked} acknowledged`);
    console.log(`postgres restart: ${acked} acknowledged, 0 lost`);
  },
);

const TTL_SECONDS = 3;

clusterTest(
  "cluster: the users of a process killed with -9 leave everywhere within the TTL",
  { nodes: 2, flags: ["--presence-ttl", String(TTL_SECONDS)] },
  async (cluster, closeLater) => {
    const watcher = closeLater(await TestClient.connect(cluster.nodes[0]!, "watcher"));
    const ghost = closeLater(await TestClient.connect(cluster.nodes[1]!, "ghost"));
    await watcher.request("room.join", { room: ROOM });
    await ghost.request("room.join", { room: ROOM });
    const members = await watcher.request("room.members", { room: ROOM });
    assert.equal(members.members.find((m) => m.user.name === "ghost")?.online, true);
    const left = watcher.next(
      (f) => f.type === "presence" && f.leaves.some((u) => u.name === "ghost"),
      (TTL_SECONDS * 4 / 3 + 3) * 1000,
    );
    const killedAt = Date.now();
    assert.equal(await cluster.nodes[1]!.stop("SIGKILL"), 137);
    await left;
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs <= (TTL_SECONDS * 4 / 3 + 1) * 1000, `left after ${tookMs} ms`);
    const after = await watcher.request("room.members", { room: ROOM });
    assert.equal(after.members.find((m) => m.user.name === "ghost")?.online, false);
    console.log(`presence: a killed process's user left after ${tookMs} ms (TTL ${TTL_SECONDS} s)`);
  },
);
