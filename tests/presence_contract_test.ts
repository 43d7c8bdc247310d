import { MemoryPresenceRegistry } from "../server/presence/memory.ts";
import { RedisPresence } from "../server/presence/redis.ts";
import type { Presence } from "../server/presence/types.ts";
import { presenceContract } from "./presence_contract.ts";
import { REDIS_MISSING, startRedis } from "./support/redis.ts";

presenceContract("memory", () => {
  let now = 1_700_000_000_000;
  const registry = new MemoryPresenceRegistry(30_000, () => now);
  const instances: Presence[] = [];
  return Promise.resolve({
    instance: () => {
      const presence = registry.connect();
      instances.push(presence);
      return Promise.resolve(presence);
    },
    advance: (ms) => {
      now += ms;
      return Promise.resolve();
    },
    dispose: async () => {
      for (const presence of instances) await presence.close();
    },
  });
}, { noOutage: "in-process: there is no engine to lose" });

// Redis keeps time with its own clock (TIME), so a short ttl and real waiting.
const REDIS_TTL_MS = 1000;

presenceContract("redis", async () => {
  const server = await startRedis();
  if (!server) throw new Error(REDIS_MISSING ?? "no redis-server");
  const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
  const instances: RedisPresence[] = [];
  return {
    instance: async () => {
      const presence = await RedisPresence.connect(server.url, { prefix, ttlMs: REDIS_TTL_MS });
      instances.push(presence);
      return presence;
    },
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    outage: server,
    dispose: async () => {
      for (const presence of instances) await presence.close().catch(() => {});
      await server.stop();
    },
  };
}, { ignore: REDIS_MISSING });
