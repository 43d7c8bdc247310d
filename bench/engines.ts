/**
 * Redis and PostgreSQL for the several-process scenarios (f, g), started by the bench itself
 * on 127.0.0.1 with the test harnesses (tests/support): one PostgreSQL cluster for the whole
 * bench, started on first use, and for each run a fresh database and a fresh redis-server.
 * With pinning they move to the servers' core, so the server side of every topology gets
 * the same one core. `stop()` removes everything; main.ts also calls it on SIGINT/SIGTERM.
 */
import {
  postgresMissing,
  type PostgresServer,
  startPostgres,
  type TestDatabase,
} from "../tests/support/postgres.ts";
import { REDIS_MISSING, type RedisServer, startRedis } from "../tests/support/redis.ts";

/** Why the several-process scenarios cannot run here, or null when they can. */
export function enginesMissing(): string | null {
  return REDIS_MISSING ?? postgresMissing();
}

/** The engines of one run: a Redis of its own and a database of its own. */
export interface RunEngines {
  redisUrl: string;
  storeUrl: string;
  /** redis-server, and the PostgreSQL postmaster with every backend it has now. */
  pids(): { Redis: number[]; PostgreSQL: number[] };
  stop(): Promise<void>;
}

export class Engines {
  #postgres: Promise<PostgresServer | null> | null = null;
  #postmaster = 0;
  readonly #runs = new Set<RunEngines>();

  /** `core`: where to pin the engines (the servers' core), or null not to pin. */
  constructor(private readonly core: number | null) {}

  /** A fresh redis-server and database; throws (with the reason) if either is missing. */
  async forRun(): Promise<RunEngines> {
    const missing = enginesMissing();
    if (missing) throw new Error(missing);
    const postgres = await this.#cluster();
    let redis: RedisServer | null = null;
    let db: TestDatabase | null = null;
    try {
      redis = await startRedis();
      if (!redis) throw new Error(REDIS_MISSING ?? "redis-server did not start");
      const redisPid = listeningPids(redis.port)[0];
      if (this.core !== null && redisPid) await pin(redisPid, this.core);
      db = await postgres.createDatabase();
      const postmaster = this.#postmaster;
      const run: RunEngines = {
        redisUrl: redis.url,
        storeUrl: db.url,
        pids: () => ({
          Redis: redisPid ? [redisPid] : [],
          PostgreSQL: postmaster ? tree(postmaster) : [],
        }),
        stop: async () => {
          this.#runs.delete(run);
          await redis?.stop().catch(() => {});
          await db?.drop().catch(() => {});
        },
      };
      this.#runs.add(run);
      return run;
    } catch (error) {
      await redis?.stop().catch(() => {});
      await db?.drop().catch(() => {});
      throw error;
    }
  }

  /** Stop every run's Redis and the PostgreSQL cluster, removing their files. */
  async stop(): Promise<void> {
    for (const run of [...this.#runs]) await run.stop();
    const postgres = await this.#postgres?.catch(() => null);
    this.#postgres = null;
    await postgres?.stop().catch(() => {});
  }

  #cluster(): Promise<PostgresServer> {
    this.#postgres ??= (async () => {
      const server = await startPostgres();
      if (!server) return null;
      this.#postmaster = listeningPids(server.port)[0] ?? 0;
      // Backends forked later inherit the postmaster's affinity.
      if (this.core !== null && this.#postmaster) {
        for (const pid of tree(this.#postmaster)) await pin(pid, this.core);
      }
      return server;
    })();
    return this.#postgres.then((server) => {
      if (!server) throw new Error(postgresMissing() ?? "PostgreSQL did not start");
      return server;
    });
  }
}

/** Pin every thread of `pid` to `core`. */
async function pin(pid: number, core: number): Promise<void> {
  await new Deno.Command("taskset", {
    args: ["-a", "-cp", String(core), String(pid)],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
}

/** The processes with a socket listening on 127.0.0.1:`port` (from /proc/net/tcp). */
export function listeningPids(port: number): number[] {
  const inodes = new Set<string>();
  try {
    const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
    for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address rem_address st ... inode (field 9); st 0A is LISTEN.
      if (f[1] === local && f[3] === "0A" && f[9]) inodes.add(`socket:[${f[9]}]`);
    }
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const pid of allPids()) {
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        if (inodes.has(Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`))) {
          pids.push(pid);
          break;
        }
      }
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

/** `root` and every process descended from it, now. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return out;
}

function allPids(): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(entry.name)) pids.push(Number(entry.name));
  }
  return pids;
}
