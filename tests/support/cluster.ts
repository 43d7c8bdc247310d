/**
 * Several real Parley processes on one PostgreSQL store and one Redis bus, as an
 * operator would run them behind a load balancer. Tests start the engines themselves.
 */
import { type ServerProcess, spawnServer } from "../process.ts";
import { postgresMissing, type PostgresServer, startPostgres } from "./postgres.ts";
import { REDIS_MISSING, type RedisServer, startRedis } from "./redis.ts";

const SERVER = new URL("../../server.ts", import.meta.url).pathname;

/** Why cluster tests cannot run here, or null when they can. */
export const CLUSTER_MISSING: string | null = REDIS_MISSING ?? postgresMissing();

export interface Cluster {
  redis: RedisServer;
  postgres: PostgresServer;
  /** The store URL every process shares. */
  storeUrl: string;
  nodes: ServerProcess[];
  /** Start one more process on the same engines. */
  spawn(): Promise<ServerProcess>;
  stop(): Promise<void>;
}

/** Flags every cluster process runs with: generous rates, so tests measure delivery. */
export const CLUSTER_FLAGS = [
  "--message-rate",
  "100000",
  "--message-burst",
  "100000",
  "--frame-rate",
  "100000",
  "--frame-burst",
  "100000",
  "--password-cost",
  "10",
];

export async function startCluster(count: number, extra: string[] = []): Promise<Cluster> {
  const redis = await startRedis();
  const postgres = await startPostgres();
  if (!redis || !postgres) {
    await redis?.stop();
    await postgres?.stop();
    throw new Error(`cluster engines missing: ${CLUSTER_MISSING}`);
  }
  const db = await postgres.createDatabase();
  const dirs: string[] = [];
  const nodes: ServerProcess[] = [];
  const spawn = async () => {
    const dir = await Deno.makeTempDir({ prefix: "parley-node-" });
    dirs.push(dir);
    const node = await spawnServer([
      SERVER,
      "--store",
      db.url,
      "--bus",
      redis.url,
      "--data",
      dir,
      ...CLUSTER_FLAGS,
      ...extra,
    ]);
    nodes.push(node);
    return node;
  };
  try {
    // One at a time: the first runs the migrations, the rest find them done.
    for (let i = 0; i < count; i++) await spawn();
  } catch (error) {
    for (const node of nodes) await node.stop("SIGKILL");
    await redis.stop();
    await postgres.stop();
    throw error;
  }
  return {
    redis,
    postgres,
    storeUrl: db.url,
    nodes,
    spawn,
    async stop() {
      for (const node of nodes) await node.stop("SIGKILL");
      await redis.stop();
      await postgres.stop();
      for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Register the admin first, on node 0, so that no test user becomes one by accident. */
export async function createRoot(node: { url: string }): Promise<void> {
  const response = await fetch(`${node.url}/api/register`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: node.url },
    body: JSON.stringify({ username: "root", password: "root-correct-horse-battery" }),
  });
  await response.body?.cancel();
  if (response.status !== 201 && response.status !== 200) {
    throw new Error(`could not create root: ${response.status}`);
  }
}

/** Things a cluster test opened, closed after it whatever happens. */
export type Closer = <T extends { close(): Promise<unknown> }>(thing: T) => T;

/**
 * A test on `nodes` fresh processes with the admin created, stopped afterwards; ignored,
 * with the reason in its name, where Redis or PostgreSQL is not installed.
 */
export function clusterTest(
  title: string,
  options: { nodes: number; flags?: string[] },
  body: (cluster: Cluster, closeLater: Closer) => Promise<void>,
): void {
  const ignore = CLUSTER_MISSING !== null;
  Deno.test({
    name: ignore ? `${title} (skipped: ${CLUSTER_MISSING})` : title,
    ignore,
    // Child processes and engine clients outlive single ops by design; each is stopped below.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const cluster = await startCluster(options.nodes, options.flags);
      const opened: { close(): Promise<unknown> }[] = [];
      try {
        await createRoot(cluster.nodes[0]!);
        await body(cluster, (thing) => {
          opened.push(thing);
          return thing;
        });
      } finally {
        for (const thing of opened) await thing.close().catch(() => {});
        await cluster.stop();
      }
    },
  });
}
