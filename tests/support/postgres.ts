/**
 * A throwaway PostgreSQL 15 cluster for tests: initdb on a temp directory, listening on
 * 127.0.0.1 at a free port with trust auth, stopped and removed afterwards.
 *
 * PostgreSQL refuses to run as root, so as root the binaries run as the `postgres` user
 * (via runuser) on a directory that user owns.
 */
import postgres from "postgres";

const BIN = Deno.env.get("PARLEY_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

export interface PostgresServer {
  /** Superuser URL of the cluster's `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** Stop the server for good and remove its files. */
  stop(): Promise<void>;
  /** `stopServer` then `startServer`: same data directory, same port, data kept. */
  restart(): Promise<void>;
  /** Stop the server (fast shutdown: open connections are cut) and keep its data. */
  stopServer(): Promise<void>;
  /** Start it again after `stopServer`, waiting until it accepts connections. */
  startServer(): Promise<void>;
  /** A new empty database on this cluster, for one test. */
  createDatabase(): Promise<TestDatabase>;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Drop it, cutting any connection still open. */
  drop(): Promise<void>;
}

/** Why PostgreSQL tests cannot run here, or null when they can. Synchronous, for `ignore`. */
export function postgresMissing(): string | null {
  for (const tool of ["initdb", "pg_ctl", "postgres"]) {
    try {
      Deno.statSync(`${BIN}/${tool}`);
    } catch {
      return `PostgreSQL not installed (no ${BIN}/${tool}; apt-get install postgresql)`;
    }
  }
  if (Deno.uid() === 0 && !userId("postgres")) {
    return "PostgreSQL cannot run as root and there is no `postgres` user";
  }
  return null;
}

/** Start a cluster; null when PostgreSQL is not installed (see `postgresMissing`). */
export async function startPostgres(): Promise<PostgresServer | null> {
  if (postgresMissing()) return null;
  const dir = await Deno.makeTempDir({ prefix: "parley-pg-" });
  const data = `${dir}/data`;
  const log = `${dir}/server.log`;
  const asRoot = Deno.uid() === 0;
  const owner = asRoot ? userId("postgres") : null;
  try {
    if (owner) await Deno.chown(dir, owner.uid, owner.gid);
    await run(asRoot, "initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
      "--no-instructions",
    ]);
    const port = freePort();
    // Settings live in the data directory, so a restart comes back the same way.
    // fsync is off: a clean stop still checkpoints, and no test survives a power cut.
    await Deno.writeTextFile(
      `${data}/postgresql.conf`,
      [
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        "max_connections = 200",
        "fsync = off",
        "full_page_writes = off",
        "synchronous_commit = off",
        "",
      ].join("\n"),
      { append: true },
    );
    if (owner) await Deno.chown(`${data}/postgresql.conf`, owner.uid, owner.gid);
    const server = new Cluster(dir, data, log, port, asRoot);
    await server.startServer();
    return server;
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

let shared: Promise<PostgresServer | null> | null = null;

/**
 * One cluster for every test in this process, started on first use and stopped when the
 * process unloads (tests may `stop` it earlier; the next caller then starts another).
 */
export function sharedPostgres(): Promise<PostgresServer | null> {
  shared ??= startPostgres();
  return shared;
}

/** Clusters still running, stopped synchronously at unload should a test not stop them. */
const running = new Set<Cluster>();
globalThis.addEventListener("unload", () => {
  for (const cluster of running) cluster.stopSync();
});

class Cluster implements PostgresServer {
  readonly url: string;
  #stopped = false;

  constructor(
    readonly dir: string,
    readonly data: string,
    readonly log: string,
    readonly port: number,
    readonly asRoot: boolean,
  ) {
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  async startServer(): Promise<void> {
    running.add(this);
    try {
      await run(this.asRoot, "pg_ctl", [
        "-D",
        this.data,
        "-l",
        this.log,
        "-w",
        "-t",
        "60",
        "start",
      ]);
    } catch (error) {
      const tail = await Deno.readTextFile(this.log).catch(() => "");
      throw new Error(`${(error as Error).message}\n${tail.slice(-2000)}`);
    }
  }

  async stopServer(): Promise<void> {
    await run(this.asRoot, "pg_ctl", ["-D", this.data, "-m", "fast", "-w", "stop"]);
    running.delete(this);
  }

  async restart(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (running.has(this)) {
      await run(this.asRoot, "pg_ctl", ["-D", this.data, "-m", "immediate", "-w", "stop"]);
      running.delete(this);
    }
    await Deno.remove(this.dir, { recursive: true });
    if (shared && await shared === this) shared = null;
  }

  stopSync(): void {
    const [cmd, args] = command(this.asRoot, "pg_ctl", [
      "-D",
      this.data,
      "-m",
      "immediate",
      "-w",
      "stop",
    ]);
    new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync();
    running.delete(this);
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // best effort at exit
    }
  }

  async createDatabase(): Promise<TestDatabase> {
    const name = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    await this.#admin((sql) => sql.unsafe(`CREATE DATABASE ${name}`));
    const url = this.url.replace(/\/postgres$/, `/${name}`);
    return {
      name,
      url,
      drop: () => this.#admin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
    };
  }

  async #admin(fn: (sql: postgres.Sql) => Promise<unknown>): Promise<void> {
    const sql = postgres(this.url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      await fn(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
}

function command(asRoot: boolean, tool: string, args: string[]): [string, string[]] {
  const path = `${BIN}/${tool}`;
  return asRoot ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

async function run(asRoot: boolean, tool: string, args: string[]): Promise<void> {
  const [cmd, full] = command(asRoot, tool, args);
  const out = await new Deno.Command(cmd, { args: full, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${tool} ${args.join(" ")} failed (${out.code}): ${text.trim()}`);
  }
}

function userId(name: string): { uid: number; gid: number } | null {
  try {
    const line = Deno.readTextFileSync("/etc/passwd").split("\n")
      .find((l) => l.startsWith(`${name}:`));
    const [, , uid, gid] = line?.split(":") ?? [];
    return uid && gid ? { uid: Number(uid), gid: Number(gid) } : null;
  } catch {
    return null;
  }
}

/** A port that was free a moment ago: bind port 0, read it, let it go. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
