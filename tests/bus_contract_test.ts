import assert from "node:assert/strict";
import { BroadcastChannelBus } from "../server/bus/broadcast_channel.ts";
import { LocalBroker } from "../server/bus/local.ts";
import { RedisBus } from "../server/bus/redis.ts";
import type { BusEnvelope } from "../server/bus/types.ts";
import { busContract } from "./bus_contract.ts";
import { REDIS_MISSING, startRedis } from "./support/redis.ts";

const IN_PROCESS = "in-process: there is no broker to lose";

busContract("local", () => {
  const broker = new LocalBroker();
  return { a: broker.connect(), b: broker.connect() };
}, { noOutage: IN_PROCESS, echoes: true });

busContract("BroadcastChannel", () => {
  const channel = `parley-test-${crypto.randomUUID()}`;
  return {
    a: new BroadcastChannelBus(undefined, channel),
    b: new BroadcastChannelBus(undefined, channel),
  };
}, { noOutage: IN_PROCESS, echoes: false });

busContract("redis", async () => {
  const server = await startRedis();
  if (!server) throw new Error(REDIS_MISSING ?? "no redis-server");
  try {
    // A prefix per pair, as two deployments sharing one Redis would have.
    const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
    const [a, b] = await Promise.all([
      RedisBus.connect(server.url, { prefix }),
      RedisBus.connect(server.url, { prefix }),
    ]);
    return { a, b, outage: server, dispose: () => server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}, { ignore: REDIS_MISSING, echoes: true });

Deno.test({
  name: `bus (redis): connect rejects soon when Redis is unreachable${
    REDIS_MISSING ? ` (ignored: ${REDIS_MISSING})` : ""
  }`,
  ignore: REDIS_MISSING !== null,
  fn: async () => {
    const server = await startRedis();
    assert.ok(server);
    await server.stop(); // Its port is now free: nothing answers there.
    const started = Date.now();
    await assert.rejects(
      RedisBus.connect(server.url, { connectTimeoutMs: 500 }),
      /no bus on redis:\/\/127\.0\.0\.1:\d+ in 500 ms/,
    );
    assert.ok(Date.now() - started < 2000);
  },
});

Deno.test("bus: BroadcastChannel carries envelopes to and from another worker", async () => {
  const channel = `parley-worker-${crypto.randomUUID()}`;
  const worker = new Worker(new URL("./fixtures/bus_worker.ts", import.meta.url), {
    type: "module",
  });
  const bus = new BroadcastChannelBus("main", channel);
  try {
    await bus.watch("general");
    await new Promise<void>((resolve) => {
      worker.onmessage = () => resolve();
      worker.postMessage({ channel });
    });
    const echoed = new Promise<BusEnvelope>((resolve) => bus.subscribe(resolve));
    bus.publish({ room: "general", data: "hello" });
    const envelope = await echoed;
    assert.deepEqual(envelope, { origin: "worker", room: "general", data: "echo:hello" });
  } finally {
    worker.terminate();
    await bus.close();
  }
});
