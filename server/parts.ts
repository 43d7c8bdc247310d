/**
 * The implementations a server runs on, picked from its configuration: the one place
 * that chooses them (server.ts calls it; mod.ts receives what it returns).
 *
 * PostgreSQL and Redis (and their npm clients) are imported only when a spec names them:
 * a server on Deno KV never loads or evaluates them, which keeps start-up short.
 */
import { join, resolve } from "node:path";
import { BroadcastChannelBus } from "./bus/broadcast_channel.ts";
import { LocalBroker } from "./bus/local.ts";
import type { Bus } from "./bus/types.ts";
import type { BusSpec, StoreSpec } from "./config.ts";
import { MemoryPresenceRegistry } from "./presence/memory.ts";
import type { Presence } from "./presence/types.ts";
import { MemoryRateLimiter } from "./rate/memory.ts";
import type { RateLimiter } from "./rate/types.ts";
import { KvStore } from "./store/kv.ts";
import { lockDataDir } from "./store/kv_lock.ts";
import { MemoryStore } from "./store/memory.ts";
import type { Store } from "./store/types.ts";
import { DiskFileStore } from "./files/disk.ts";
import { MemoryFileStore } from "./files/memory.ts";
import type { FileStore } from "./files/types.ts";

/** A part could not be opened: the message says which and why, fit for the operator. */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

export interface Parts {
  store: Store;
  /** Uploaded files, beside the store: on disk with KV, in PostgreSQL with PostgreSQL. */
  files: FileStore;
  bus: Bus;
  presence: Presence;
  limiter: RateLimiter;
}

export interface PartsSpec {
  store: StoreSpec;
  bus: BusSpec;
  /** How long a presence entry lives unless refreshed; 30 s by default. */
  presenceTtlMs?: number;
  /** Under `deno serve --parallel`: workers of this process share a BroadcastChannel. */
  workers?: boolean;
  /** Where the shared engines' failures are reported. */
  onError?: (what: string, error: unknown) => void;
}

/** Open every part; whatever opened before a failure is closed again. */
export async function openParts(spec: PartsSpec): Promise<Parts> {
  const opened: { close(): Promise<void> }[] = [];
  const keep = <T extends { close(): Promise<void> }>(part: T): T => {
    opened.push(part);
    return part;
  };
  try {
    const instanceId = crypto.randomUUID();
    if (spec.bus.kind === "redis") {
      const { url } = spec.bus;
      const [{ RedisBus }, { RedisPresence }, { RedisRateLimiter }, { FallbackRateLimiter }] =
        await Promise.all([
          import("./bus/redis.ts"),
          import("./presence/redis.ts"),
          import("./rate/redis.ts"),
          import("./rate/fallback.ts"),
        ]);
      const bus = keep(await RedisBus.connect(url, { instanceId }));
      const ttl = spec.presenceTtlMs === undefined ? {} : { ttlMs: spec.presenceTtlMs };
      const presence = keep(await RedisPresence.connect(url, { instanceId, ...ttl }));
      const shared = await RedisRateLimiter.connect(url);
      const limiter = keep(
        new FallbackRateLimiter(shared, (error) => spec.onError?.("rate limiter", error)),
      );
      const store = keep(await openStore(spec.store, false));
      const files = keep(await openFileStore(spec.store));
      return { store, files, bus, presence, limiter };
    }
    const store = keep(await openStore(spec.store, !spec.workers));
    const files = keep(await openFileStore(spec.store));
    const bus = localBus(spec.store, spec.workers ?? false, instanceId);
    return {
      store,
      files,
      bus,
      // In one process presence dies with the process: nothing to expire or refresh.
      presence: new MemoryPresenceRegistry().connect(instanceId),
      limiter: new MemoryRateLimiter(),
    };
  } catch (error) {
    for (const part of opened.reverse()) await part.close().catch(() => {});
    throw new StartupError(error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}

/**
 * Open the store. With no shared bus, a KV directory is locked to this process, so two
 * processes on it refuse to start rather than split live delivery silently.
 */
export async function openStore(spec: StoreSpec, lock = false): Promise<Store> {
  if (spec.kind === "memory") return new MemoryStore();
  if (spec.kind === "postgres") {
    const { PostgresStore } = await import("./store/postgres.ts");
    return await PostgresStore.open(spec.url);
  }
  await Deno.mkdir(spec.dir, { recursive: true });
  const release = lock ? await lockDataDir(spec.dir) : undefined;
  const store = await KvStore.open(join(spec.dir, "parley.kv"));
  if (!release) return store;
  const close = store.close.bind(store);
  let closing: Promise<void> | undefined;
  store.close = () => closing ??= close().then(release);
  return store;
}

/**
 * Where uploaded files live, beside the store: DIR/files for Deno KV, tables of their own
 * in PostgreSQL (every process sharing it serves every file), memory for memory.
 */
export async function openFileStore(spec: StoreSpec): Promise<FileStore> {
  if (spec.kind === "memory") return new MemoryFileStore();
  if (spec.kind === "postgres") {
    const { PostgresFileStore } = await import("./files/postgres.ts");
    return await PostgresFileStore.open(spec.url);
  }
  return await DiskFileStore.open(join(spec.dir, "files"));
}

/**
 * Workers of one `deno serve --parallel` process that share a data directory share a
 * BroadcastChannel. A lone process has no such peers, and a memory store shares nothing:
 * both keep broadcasts in process.
 */
function localBus(store: StoreSpec, workers: boolean, instanceId: string): Bus {
  if (!workers || store.kind === "memory") return new LocalBroker().connect(instanceId);
  const where = store.kind === "kv" ? resolve(store.dir) : store.url;
  return new BroadcastChannelBus(instanceId, `parley:${where}`);
}
