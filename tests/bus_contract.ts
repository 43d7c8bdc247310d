/** The Bus contract: one suite, run against every adapter. */
import assert from "node:assert/strict";
import type { Bus, BusEnvelope, BusStatus } from "../server/bus/types.ts";
import { BusError } from "../server/bus/types.ts";

/** Makes two endpoints that can reach each other, and releases what they share. */
export interface BusPair {
  a: Bus;
  b: Bus;
  /** Take the broker away and bring it back (adapters with a broker process). */
  outage?: { pause(): Promise<void>; resume(): Promise<void> };
  dispose?(): Promise<void>;
}

export interface BusContractOptions {
  /** Why this adapter cannot run here at all (e.g. no redis-server): every case is ignored. */
  ignore?: string | null;
  /** Why the broker-outage case does not apply; leave unset when pairs supply `outage`. */
  noOutage?: string;
  /** Whether an endpoint hears its own envelopes back (a hub then drops them by origin). */
  echoes: boolean;
}

export function busContract(
  name: string,
  makePair: () => Promise<BusPair> | BusPair,
  options: BusContractOptions,
): void {
  if (options.ignore) console.warn(`bus contract (${name}) ignored: ${options.ignore}`);
  const withPair = (
    title: string,
    body: (pair: BusPair) => Promise<void>,
    unsupported?: string,
  ) => {
    const why = options.ignore ?? unsupported;
    Deno.test({
      name: `bus contract (${name}): ${title}${why ? ` (ignored: ${why})` : ""}`,
      ignore: why !== undefined,
      fn: async () => {
        const pair = await makePair();
        try {
          await body(pair);
        } finally {
          await pair.a.close();
          await pair.b.close();
          await pair.dispose?.();
        }
      },
    });
  };

  withPair("an envelope reaches the other instance intact, with its origin", async ({ a, b }) => {
    await b.watch("general");
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
    await b.watch("r");
    const got = collect(b);
    for (let i = 0; i < 200; i++) a.publish({ room: "r", data: String(i) });
    await waitFor(() => got.length === 200);
    assert.deepEqual(got.map((e) => Number(e.data)), [...Array(200).keys()]);
  });

  withPair("order holds across a room and the envelopes for everyone", async ({ a, b }) => {
    await b.watch("r");
    const got = collect(b);
    for (let i = 0; i < 100; i++) a.publish({ room: i % 3 ? "r" : null, data: String(i) });
    await waitFor(() => got.length === 100);
    assert.deepEqual(got.map((e) => Number(e.data)), [...Array(100).keys()]);
  });

  withPair(
    options.echoes
      ? "an endpoint hears its own envelope back once, marked with its own origin"
      : "an endpoint does not hear its own envelopes back",
    async ({ a, b }) => {
      await Promise.all([a.watch("r"), b.watch("r")]);
      const own = collect(a);
      const other = collect(b);
      a.publish({ room: "r", data: "x" });
      await waitFor(() => other.length === 1);
      await new Promise((r) => setTimeout(r, 50));
      // Where the adapter echoes, the origin is what lets the hub drop it.
      assert.deepEqual(own.map((e) => e.origin), options.echoes ? [a.instanceId] : []);
    },
  );

  withPair("room envelopes reach only instances that watch the room", async ({ a, b }) => {
    await b.watch("seen");
    const got = collect(b);
    a.publish({ room: "unseen", data: "1" });
    a.publish({ room: "seen", data: "2" });
    await waitFor(() => got.length >= 1);
    await b.watch("unseen");
    a.publish({ room: "unseen", data: "3" });
    await waitFor(() => got.length >= 2);
    await b.unwatch("unseen");
    a.publish({ room: "unseen", data: "4" });
    a.publish({ room: "seen", data: "5" });
    await waitFor(() => got.length >= 3);
    await settle();
    assert.deepEqual(got.map((e) => e.data), ["2", "3", "5"]);
  });

  withPair("watch and unwatch are idempotent: the caller counts", async ({ a, b }) => {
    await b.watch("r");
    await b.watch("r");
    const got = collect(b);
    a.publish({ room: "r", data: "1" });
    await waitFor(() => got.length === 1);
    await b.unwatch("r");
    await b.unwatch("r");
    a.publish({ room: "r", data: "2" });
    a.publish({ room: null, data: "marker" });
    await waitFor(() => got.length === 2);
    await settle();
    assert.deepEqual(got.map((e) => e.data), ["1", "marker"]);
  });

  withPair("room:null, toUser and control envelopes reach every instance", async ({ a, b }) => {
    const got = collect(b);
    const control = { type: "access", room: "secret" } as const;
    a.publish({ room: null, data: "everyone" });
    a.publish({ room: null, data: "one user", toUser: "u_ada" });
    a.publish({ room: null, data: "", control, controlSeq: 1 });
    await waitFor(() => got.length === 3);
    assert.deepEqual(got.map((e) => e.data), ["everyone", "one user", ""]);
    assert.equal(got[1]!.toUser, "u_ada");
    assert.deepEqual(got[2]!.control, control);
  });

  withPair("seq and controlSeq survive intact", async ({ a, b }) => {
    await b.watch("r");
    const got = collect(b);
    const big = Number.MAX_SAFE_INTEGER;
    a.publish({ room: "r", data: "m", seq: big });
    a.publish({ room: "r", data: "m", seq: 1 });
    a.publish({ room: null, data: "", control: { type: "resync" }, controlSeq: 7 });
    await waitFor(() => got.length === 3);
    assert.deepEqual(got.map((e) => [e.seq, e.controlSeq]), [
      [big, undefined],
      [1, undefined],
      [undefined, 7],
    ]);
  });

  withPair("publish resolves once the envelope is taken", async ({ a, b }) => {
    assert.equal(b.status, "up");
    assert.equal(await a.publish({ room: "nobody-watches", data: "x" }), undefined);
    assert.equal(await a.publish({ room: null, data: "y" }), undefined);
  });

  withPair("unsubscribe stops delivery", async ({ a, b }) => {
    await b.watch("r");
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
    await b.watch("r");
    const got = collect(b);
    await b.close();
    a.publish({ room: "r", data: "after close" });
    a.publish({ room: null, data: "after close" });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 0);
  });

  withPair(
    "a broker outage: publish fails, status goes down and up, envelopes flow again",
    async ({ a, b, outage }) => {
      assert.ok(outage, "the pair must supply an outage");
      await b.watch("r");
      const statuses: BusStatus[] = [];
      b.onStatus((status) => statuses.push(status));
      const got = collect(b);

      await outage.pause();
      await waitFor(() => b.status === "down" && a.status === "down");
      const started = Date.now();
      await assert.rejects(async () => await a.publish({ room: "r", data: "lost" }), BusError);
      assert.ok(Date.now() - started < 2500, "publish fails fast, it does not queue");
      // Watched while down: subscribed on reconnect, before "up".
      await b.watch("later");

      await outage.resume();
      await waitFor(() => b.status === "up" && a.status === "up", 5000);
      assert.deepEqual(statuses, ["down", "up"]);
      await a.publish({ room: "r", data: "1" });
      await a.publish({ room: "later", data: "2" });
      await a.publish({ room: null, data: "3" });
      await waitFor(() => got.length === 3);
      assert.deepEqual(got.map((e) => e.data), ["1", "2", "3"]);
    },
    options.noOutage,
  );
}

function collect(bus: Bus): BusEnvelope[] {
  const got: BusEnvelope[] = [];
  bus.subscribe((e) => got.push(e));
  return got;
}

/** Give envelopes that should not arrive the time to do so anyway. */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 50));
}

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("bus delivery timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}
