/**
 * Redis RateLimiter: one token bucket per key (`<prefix>:rl:<key>`, a HASH of tokens and
 * the time they were counted), taken from atomically by a Lua script, so every process
 * shares it. The clock is Redis TIME, so processes with skewed clocks share one rate.
 * A bucket expires once it would be full again: a missing key is a full bucket.
 */
import {
  closeRedis,
  connectRedis,
  DEFAULT_PREFIX,
  LuaScript,
  type Redis,
} from "../redis/client.ts";
import type { Rate, RateLimiter } from "./types.ts";

/** KEYS bucket; ARGV perSecond, burst: 0 when granted, else ms until a token is there. */
const TAKE = new LuaScript(`local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(bucket[1]), tonumber(bucket[2])
if not tokens or not at then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return wait`);

export interface RedisRateLimiterOptions {
  prefix?: string;
}

export class RedisRateLimiter implements RateLimiter {
  readonly #prefix: string;

  /** Open its own connection, closed by `close`; rejects when Redis cannot be reached. */
  static async connect(
    url: string,
    options: RedisRateLimiterOptions & { connectTimeoutMs?: number } = {},
  ): Promise<RedisRateLimiter> {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const client = await connectRedis(url, {
      name: `${prefix}-rate`,
      ...(options.connectTimeoutMs ? { timeoutMs: options.connectTimeoutMs } : {}),
    });
    return new RedisRateLimiter(client, options, true);
  }

  /** On a connection from `connectRedis`, possibly shared; closed by `close` if `owned`. */
  constructor(
    private readonly client: Redis,
    options: RedisRateLimiterOptions = {},
    private readonly owned = false,
  ) {
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
  }

  /** Rejects at once (or after the command timeout) while Redis cannot be reached. */
  async take(key: string, rate: Rate): Promise<number> {
    const keys = [`${this.#prefix}:rl:${key}`];
    return Number(await TAKE.run(this.client, keys, [rate.perSecond, rate.burst]));
  }

  async close(): Promise<void> {
    if (this.owned) await closeRedis(this.client);
  }
}
