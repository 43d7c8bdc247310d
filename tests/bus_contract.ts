/** The Bus contract: one suite, run against every adapter. */
import assert from "node:assert/strict";
import type { Bus, BusEnvelope } from "../server/bus/types.ts";

/** Makes two endpoints that can reach each other, and releases what they share. */
export interface BusPair {
  a: Bus;
  b: Bus;
  dispose?(): Promise<void>;
}

export function busContract(name: string, makePair: () => Promise<BusPair> | BusPair): void {
  const withPair = (title: string, body: (pair: BusPair) => Promise<void>) =>
    Deno.test(`bus contract (${name}): ${title}`, async () => {
      const pair = await makePair();
      try {
        await body(pair);
      } finally {
        await pair.a.close();
        await pair.b.close();
        await pair.dispose?.();
      }
    });

  withPair("an envelope reaches the other instance intact, with its origin", async ({ a, b }) => {
    const got = collect(b);
    a.publish({ room: "general", data: '{"type":"message"}', excludeUser: "u_1" });
    a.publish({ room: null, data: '{"type":"room"}' });
    const control = { type: "remove", room: "general", userId: "u_2", reason: "banned" } as const;
    a.publish({ room: null, data: "", control });
    await waitFor(() => got.length === 3);
    assert.deepEqual(got[0], {
      origin: a.instanceId,
      room: "general",
      data: '{"type":"message"}',
      excludeUser: "u_1",
    });
    assert.equal(got[1]!.room, null);
    assert.equal(got[1]!.origin, a.instanceId);
    assert.deepEqual(got[2]!.control, control, "hub controls cross instances as structured data");
    assert.notEqual(a.instanceId, b.instanceId);
  });

  withPair("envelopes arrive in publish order", async ({ a, b }) => {
    const got = collect(b);
    for (let i = 0; i < 200; i++) a.publish({ room: "r", data: String(i) });
    await waitFor(() => got.length === 200);
    assert.deepEqual(got.map((e) => Number(e.data)), [...Array(200).keys()]);
  });

  withPair(
    "anything a hub receives from itself is marked with its own origin",
    async ({ a, b }) => {
      const own = collect(a);
      const other = collect(b);
      a.publish({ room: "r", data: "x" });
      await waitFor(() => other.length === 1);
      await new Promise((r) => setTimeout(r, 20));
      // Adapters may or may not echo; when they do, the origin lets the hub drop it.
      for (const e of own) assert.equal(e.origin, a.instanceId);
    },
  );

  withPair("unsubscribe stops delivery", async ({ a, b }) => {
    const got: BusEnvelope[] = [];
    const stop = b.subscribe((e) => got.push(e));
    a.publish({ room: "r", data: "1" });
    await waitFor(() => got.length === 1);
    stop();
    a.publish({ room: "r", data: "2" });
    const marker = collect(b);
    a.publish({ room: "r", data: "3" });
    await waitFor(() => marker.length === 2);
    assert.deepEqual(got.map((e) => e.data), ["1"]);
  });

  withPair("a closed endpoint no longer receives", async ({ a, b }) => {
    const got = collect(b);
    await b.close();
    a.publish({ room: "r", data: "after close" });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 0);
  });
}

function collect(bus: Bus): BusEnvelope[] {
  const got: BusEnvelope[] = [];
  bus.subscribe((e) => got.push(e));
  return got;
}

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("bus delivery timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}
