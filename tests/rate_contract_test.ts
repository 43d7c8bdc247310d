import { MemoryRateLimiter } from "../server/rate/memory.ts";
import { RedisRateLimiter } from "../server/rate/redis.ts";
import { rateContract } from "./rate_contract.ts";
import { REDIS_MISSING, startRedis } from "./support/redis.ts";

rateContract("memory", () => {
  let now = 1_700_000_000_000;
  // One process shares one limiter: it is the engine.
  const limiter = new MemoryRateLimiter(() => now);
  return Promise.resolve({
    a: limiter,
    b: limiter,
    advance: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  });
}, { noOutage: "in-process: there is no engine to lose" });

rateContract("redis", async () => {
  const server = await startRedis();
  if (!server) throw new Error(REDIS_MISSING ?? "no redis-server");
  try {
    const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
    const [a, b] = await Promise.all([
      RedisRateLimiter.connect(server.url, { prefix }),
      RedisRateLimiter.connect(server.url, { prefix }),
    ]);
    return {
      a,
      b,
      // Buckets refill by Redis TIME: real time has to pass.
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      outage: server,
      dispose: () => server.stop(),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}, { ignore: REDIS_MISSING });
