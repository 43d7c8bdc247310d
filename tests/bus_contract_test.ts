import assert from "node:assert/strict";
import { BroadcastChannelBus } from "../server/bus/broadcast_channel.ts";
import { LocalBroker } from "../server/bus/local.ts";
import type { BusEnvelope } from "../server/bus/types.ts";
import { busContract } from "./bus_contract.ts";

busContract("local", () => {
  const broker = new LocalBroker();
  return { a: broker.connect(), b: broker.connect() };
});

busContract("BroadcastChannel", () => {
  const channel = `parley-test-${crypto.randomUUID()}`;
  return {
    a: new BroadcastChannelBus(undefined, channel),
    b: new BroadcastChannelBus(undefined, channel),
  };
});

Deno.test("bus: BroadcastChannel carries envelopes to and from another worker", async () => {
  const channel = `parley-worker-${crypto.randomUUID()}`;
  const worker = new Worker(new URL("./fixtures/bus_worker.ts", import.meta.url), {
    type: "module",
  });
  const bus = new BroadcastChannelBus("main", channel);
  try {
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
