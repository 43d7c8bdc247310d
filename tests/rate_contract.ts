/** The RateLimiter contract: one suite, run against every adapter. */
import assert from "node:assert/strict";
import type { Rate, RateLimiter } from "../server/rate/types.ts";

/** Two limiters on one engine, as two processes would have. */
export interface RateFixture {
  a: RateLimiter;
  /** For an in-process adapter the engine is the limiter itself: `b` may be `a`. */
  b: RateLimiter;
  /** Let `ms` pass: a fake clock for memory, real time for an engine with its own clock. */
  advance(ms: number): Promise<void>;
  /** Take the engine away and bring it back (adapters with a server). */
  outage?: { pause(): Promise<void>; resume(): Promise<void> };
  dispose?(): Promise<void>;
}

export interface RateContractOptions {
  /** Why this adapter cannot run here at all: every case is then ignored. */
  ignore?: string | null;
  /** Why the outage case does not apply; leave unset when fixtures supply `outage`. */
  noOutage?: string;
}

export function rateContract(
  name: string,
  open: () => Promise<RateFixture>,
  options: RateContractOptions = {},
): void {
  if (options.ignore) console.warn(`rate contract (${name}) ignored: ${options.ignore}`);
  const withLimiters = (
    title: string,
    body: (fixture: RateFixture) => Promise<void>,
    unsupported?: string,
  ) => {
    const why = options.ignore ?? unsupported;
    Deno.test({
      name: `rate contract (${name}): ${title}${why ? ` (ignored: ${why})` : ""}`,
      ignore: why !== undefined,
      fn: async () => {
        const fixture = await open();
        try {
          await body(fixture);
        } finally {
          await fixture.a.close();
          if (fixture.b !== fixture.a) await fixture.b.close();
          await fixture.dispose?.();
        }
      },
    });
  };

  withLimiters("a fresh key grants the burst, then refuses with the wait", async ({ a }) => {
    const rate: Rate = { perSecond: 0.2, burst: 2 };
    assert.equal(await a.take("k", rate), 0);
    assert.equal(await a.take("k", rate), 0);
    const wait = await a.take("k", rate);
    // One token every 5 s; a little of it may have passed already.
    assert.ok(wait > 4500 && wait <= 5000, `retry after ${wait} ms`);
    const again = await a.take("k", rate);
    assert.ok(again > 4500 && again <= wait, "a refusal takes nothing");
  });

  withLimiters("the stated wait is enough", async ({ a, advance }) => {
    const rate: Rate = { perSecond: 20, burst: 1 };
    assert.equal(await a.take("k", rate), 0);
    const wait = await a.take("k", rate);
    assert.ok(wait > 0 && wait <= 50, `retry after ${wait} ms`);
    await advance(wait);
    assert.equal(await a.take("k", rate), 0);
  });

  withLimiters("tokens come back over time, up to the burst", async ({ a, advance }) => {
    const rate: Rate = { perSecond: 10, burst: 3 };
    for (let i = 0; i < 3; i++) assert.equal(await a.take("k", rate), 0);
    assert.ok(await a.take("k", rate) > 0);
    await advance(1000); // Ten tokens' worth, capped at three.
    for (let i = 0; i < 3; i++) assert.equal(await a.take("k", rate), 0);
    assert.ok(await a.take("k", rate) > 0);
  });

  withLimiters("instances on one engine share each key's bucket", async ({ a, b }) => {
    const rate: Rate = { perSecond: 0.5, burst: 4 };
    const takes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).take("u_ada", rate)),
    );
    assert.equal(takes.filter((wait) => wait === 0).length, 4);
    assert.ok(await b.take("u_ada", rate) > 0);
    assert.ok(await a.take("u_ada", rate) > 0);
  });

  withLimiters("keys are independent", async ({ a, b }) => {
    const rate: Rate = { perSecond: 1, burst: 2 };
    await a.take("u_ada", rate);
    await a.take("u_ada", rate);
    assert.ok(await a.take("u_ada", rate) > 0);
    assert.equal(await b.take("u_bob", rate), 0);
    assert.equal(await a.take("ip:10.0.0.1", rate), 0);
  });

  withLimiters(
    "take rejects while the engine cannot be reached, and works again after",
    async ({ a, outage }) => {
      assert.ok(outage, "the fixture must supply an outage");
      const rate: Rate = { perSecond: 1, burst: 1 };
      await outage.pause();
      const started = Date.now();
      await assert.rejects(Promise.resolve().then(() => a.take("k", rate)));
      assert.ok(Date.now() - started < 2500, "it fails fast, it does not queue");
      await outage.resume();
      const deadline = Date.now() + 5000;
      for (;;) {
        const wait = await Promise.resolve().then(() => a.take("k", rate)).catch(() => null);
        if (wait !== null) {
          assert.equal(wait, 0);
          break;
        }
        assert.ok(Date.now() < deadline, "no take granted after the engine came back");
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    options.noOutage,
  );
}
