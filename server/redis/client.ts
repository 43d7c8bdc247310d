/**
 * Redis connections shared by the Redis Bus, Presence and RateLimiter (ioredis).
 * Every connection fails fast while Redis is away (no offline queue, no resend, a command
 * timeout) and reconnects by itself forever, with a backoff capped at one second.
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";

export type { Redis };

export const DEFAULT_PREFIX = "parley";

/** We never wait for replies on close, so a socket that does not close at once is dropped. */
const DISCONNECT_TIMEOUT_MS = 50;

export interface RedisConnectionOptions {
  /** A command not answered within this fails (a stalled or unreachable server). */
  commandTimeoutMs?: number;
  /** Shown by CLIENT LIST. */
  name?: string;
  /** For a subscribing connection whose owner subscribes again itself on reconnect. */
  autoResubscribe?: boolean;
}

/** A connection that starts connecting at once; see `connectRedis` to wait for it. */
export function createRedis(url: string, options: RedisConnectionOptions = {}): Redis {
  const client = new Redis(url, {
    // Callers decide what a failure means; queueing commands for later would hide it.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: 1000,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(25 * 2 ** attempt, 1000),
    disableClientInfo: true,
    autoResubscribe: options.autoResubscribe ?? true,
    ...(options.name ? { connectionName: options.name } : {}),
  });
  // Without a listener ioredis logs every failed reconnect; status changes say enough.
  client.on("error", () => {});
  return client;
}

/** Thrown when Redis cannot be reached at start-up. */
export class RedisUnavailableError extends Error {
  override readonly name = "RedisUnavailableError";
}

/** Wait until the connection is ready; after `timeoutMs` close it and reject. */
export function whenReady(client: Redis, url: string, timeoutMs = 5000): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  let lastError = "";
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => lastError = error.message;
    const onReady = () => {
      clearTimeout(timer);
      client.off("error", onError);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      client.off("error", onError);
      const why = lastError ? ` (${lastError})` : "";
      closeRedis(client).finally(() =>
        reject(
          new RedisUnavailableError(
            `redis: no connection to ${redactUrl(url)} in ${timeoutMs} ms${why}`,
          ),
        )
      );
    }, timeoutMs);
    client.on("error", onError);
    client.once("ready", onReady);
  });
}

/** A connection that is ready, or a RedisUnavailableError after `timeoutMs`. */
export async function connectRedis(
  url: string,
  options: RedisConnectionOptions & { timeoutMs?: number } = {},
): Promise<Redis> {
  const client = createRedis(url, options);
  await whenReady(client, url, options.timeoutMs);
  return client;
}

/** Disconnect without waiting for pending replies, and wait until the socket is gone. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === "end") return;
  if (client.status === "connecting" || client.status === "connect" || client.status === "ready") {
    const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
    client.disconnect();
    await ended;
    return;
  }
  // Between attempts there is no socket to wait for: ioredis only arms a destroy timer
  // (disconnectTimeout) on the dead one, which must run out before a test ends.
  client.disconnect();
  await new Promise((resolve) => setTimeout(resolve, DISCONNECT_TIMEOUT_MS + 10));
}

/** A Lua script run by EVALSHA, loaded again by EVAL when the server lost it (a restart). */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(client: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    // Not sent at all while the link is down: say so rather than ioredis' queue message.
    if (client.status !== "ready") {
      throw new RedisUnavailableError(`redis: not connected (${client.status})`);
    }
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}
