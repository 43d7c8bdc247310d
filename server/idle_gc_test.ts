import assert from "node:assert/strict";
import { createLogger } from "./log.ts";
import { exposedGc, IdleGc, type IdleGcOptions } from "./idle_gc.ts";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A collector over a fake heap: `heap` bytes in use, and what a collection leaves. */
function setup(options: Partial<IdleGcOptions> = {}) {
  const state = { heap: 10 * MiB, live: 10 * MiB, collections: 0 };
  const gc = new IdleGc({
    collect: () => {
      state.collections++;
      state.heap = state.live;
      return Promise.resolve();
    },
    log: createLogger("silent"),
    heapUsed: () => state.heap,
    minSockets: 3,
    quietMs: 40,
    tickMs: 10,
    minIntervalMs: 0,
    minGrowthBytes: 32 * MiB,
    ...options,
  });
  return { gc, state };
}

Deno.test("idle gc: a storm of sockets, then quiet, collects once", async () => {
  const { gc, state } = setup();
  try {
    for (let i = 0; i < 3; i++) gc.opened();
    state.heap = 200 * MiB;
    await sleep(120);
    assert.equal(state.collections, 1);
    assert.equal(state.heap, 10 * MiB);
    await sleep(80);
    assert.equal(state.collections, 1, "nothing more without another storm");
    assert.match(gc.metrics().join("\n"), /^parley_idle_gc_total 1$/m);
  } finally {
    gc.stop();
  }
});

Deno.test("idle gc: frames keep putting it off; heartbeats are the session's to leave out", async () => {
  const { gc, state } = setup();
  try {
    for (let i = 0; i < 3; i++) gc.opened();
    state.heap = 200 * MiB;
    for (let i = 0; i < 12; i++) {
      gc.busy();
      await sleep(10);
    }
    assert.equal(state.collections, 0, "no collection while frames arrive");
    await sleep(120);
    assert.equal(state.collections, 1);
  } finally {
    gc.stop();
  }
});

Deno.test("idle gc: too few sockets, or too little growth, collects nothing", async () => {
  const few = setup();
  const little = setup();
  try {
    for (let i = 0; i < 2; i++) few.gc.opened();
    few.state.heap = 200 * MiB;
    for (let i = 0; i < 3; i++) little.gc.opened();
    little.state.heap = 30 * MiB; // 20 MiB over what is live: under 32 MiB
    await sleep(120);
    assert.equal(few.state.collections, 0);
    assert.equal(little.state.collections, 0);
    // The storm that did not pay off is over: the next one counts its sockets afresh.
    for (let i = 0; i < 2; i++) little.gc.opened();
    little.state.heap = 200 * MiB;
    await sleep(120);
    assert.equal(little.state.collections, 0);
  } finally {
    few.gc.stop();
    little.gc.stop();
  }
});

Deno.test("idle gc: at most one collection per interval", async () => {
  const { gc, state } = setup({ minIntervalMs: 250 });
  try {
    for (let i = 0; i < 3; i++) gc.opened();
    state.heap = 200 * MiB;
    await sleep(100);
    assert.equal(state.collections, 1);
    for (let i = 0; i < 3; i++) gc.opened();
    state.heap = 200 * MiB;
    await sleep(100);
    assert.equal(state.collections, 1, "the second storm waits out the interval");
    await sleep(250);
    assert.equal(state.collections, 2);
  } finally {
    gc.stop();
  }
});

Deno.test("idle gc: stopped, it keeps no timer and collects nothing", async () => {
  const { gc, state } = setup();
  gc.stop();
  for (let i = 0; i < 3; i++) gc.opened();
  state.heap = 200 * MiB;
  await sleep(80);
  assert.equal(state.collections, 0);
});

Deno.test("idle gc: V8's gc only when the process exposes it", () => {
  const exposed = typeof (globalThis as { gc?: unknown }).gc === "function";
  assert.equal(exposedGc() !== undefined, exposed);
});

Deno.test("idle gc: requests in flight are no quiet, however long they take", async () => {
  const { gc, state } = setup();
  try {
    for (let i = 0; i < 3; i++) gc.opened();
    state.heap = 200 * MiB;
    gc.waiting(true);
    gc.waiting(true);
    await sleep(120);
    assert.equal(state.collections, 0, "a store stall mid-storm is not its end");
    gc.waiting(false);
    await sleep(120);
    assert.equal(state.collections, 0, "one session still waits");
    gc.waiting(false);
    await sleep(120);
    assert.equal(state.collections, 1);
  } finally {
    gc.stop();
  }
});
