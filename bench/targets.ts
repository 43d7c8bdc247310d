/** Start and stop the servers under test as child processes, pinned to their own core. */
import { FLAGS, V8_FLAGS } from "../server/config.ts";
import { type Endpoint, randomSecret } from "./client.ts";

export const ROOT = new URL("../", import.meta.url);
const path = (relative: string) => new URL(relative, ROOT).pathname;

export type TargetName = "parley" | "bare" | "coalescing";

export const TARGET_LABELS: Record<TargetName, string> = {
  parley: "Parley",
  bare: "bare",
  coalescing: "bare-coalescing",
};

/**
 * How Parley is deployed in the several-process scenarios (f, g): the default (one process,
 * Deno KV, local bus), one process on PostgreSQL and Redis, and two processes on them.
 */
export type Topology = "kv1" | "pg1" | "pg2";

export const TOPOLOGIES: Topology[] = ["kv1", "pg1", "pg2"];

export const TOPOLOGY_LABELS: Record<Topology, string> = {
  kv1: "Parley, 1 process, KV + local bus",
  pg1: "Parley, 1 process, PostgreSQL + Redis",
  pg2: "Parley, 2 processes, PostgreSQL + Redis",
};

/** Everything started and not yet stopped, for a signal handler to stop. */
export class Stoppers {
  readonly #all = new Set<() => Promise<void>>();

  /** Track `stop` until the returned function is called. */
  add(stop: () => Promise<void>): () => void {
    this.#all.add(stop);
    return () => this.#all.delete(stop);
  }

  async stopAll(): Promise<void> {
    const all = [...this.#all];
    this.#all.clear();
    await Promise.allSettled(all.map((stop) => stop()));
  }
}

/**
 * Flags Parley gets for every run: KV on disk, per-connection rate limits out of the way,
 * and the run's JWT secret, with which the generator signs its users in.
 */
export function parleyArgs(dataDir: string, jwtSecret: string): string[] {
  return [
    "--data",
    dataDir,
    "--jwt-secret",
    jwtSecret,
    "--message-rate",
    "1000000",
    "--message-burst",
    "1000000",
    "--frame-rate",
    "1000000",
    "--frame-burst",
    "1000000",
    "--room-rate",
    "1000000",
    "--room-burst",
    "1000000",
    // Thousands of sockets from one address (the load generator's) on purpose.
    "--max-sockets-per-ip",
    "0",
    "--max-sockets-per-user",
    "0",
    "--upgrade-rate",
    "0",
    "--log-level",
    "warn",
  ];
}

/** The core the generator moves itself to when the server is pinned (main.ts). */
export const GENERATOR_CORE = 1;

/**
 * Parley's flags as the PARLEY_* variables `deno serve` needs (it passes no arguments to
 * the module): `--data X` becomes PARLEY_DATA=X, a boolean flag "1". Flags without a
 * variable (`--create-admin`) cannot be given this way and throw.
 */
export function parleyEnv(args: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new Error(`not a Parley flag: ${arg}`);
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = FLAGS[name];
    if (!spec?.env) throw new Error(`--${name} has no PARLEY_* variable for deno serve`);
    if (eq >= 0) env[spec.env] = arg.slice(eq + 1);
    else if (spec.type === "boolean") env[spec.env] = "1";
    else env[spec.env] = args[++i] ?? "";
  }
  return env;
}

export interface TargetOptions {
  /** Pin the server to core 0 with taskset. */
  pin: boolean;
  /** Instead: run the server on these cores (a `taskset -c` list, e.g. "0,2-7"). */
  cores?: string;
  /** Parley only: run it under `deno serve --parallel` with this many workers (DENO_JOBS). */
  jobs?: number;
  /** Extra flags for Parley (e.g. ones the lead adds later). */
  parleyArgs: string[];
  /** Write a V8 CPU profile of the server into this directory. */
  cpuProfDir?: string;
  /** Parley's JWT secret (default: a random one); processes of one cluster share it. */
  jwtSecret?: string;
  /** Where to register the server while it runs, so an interrupted bench can stop it. */
  stoppers?: Stoppers;
}

export interface RunningTarget extends Endpoint {
  name: TargetName;
  pid: number;
  /** The server's stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return await Promise.resolve(port);
}

export async function hasTaskset(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output();
    return success;
  } catch {
    return false;
  }
}

/** Move this process (every thread) to `core`, so the server keeps the other to itself. */
export async function pinSelf(core: number): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-a", "-cp", String(core), String(Deno.pid)],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

export async function startTarget(
  name: TargetName,
  options: TargetOptions,
): Promise<RunningTarget> {
  // Under deno serve, Parley reads its configuration from PARLEY_* variables.
  const serve = name === "parley" && options.jobs !== undefined;
  if (serve) parleyEnv(options.parleyArgs); // throws on a flag it cannot pass, before anything starts
  const port = await freePort();
  const listen = ["--port", String(port), "--hostname", "127.0.0.1"];
  let dataDir: string | undefined;
  let jwtSecret: string | undefined;
  let script: string;
  let args: string[];
  let flags: string[] = [];
  if (name === "parley") {
    dataDir = await Deno.makeTempDir({ prefix: "parley-bench-" });
    jwtSecret = options.jwtSecret ?? randomSecret();
    script = path("server.ts");
    flags = [...parleyArgs(dataDir, jwtSecret), ...options.parleyArgs];
    args = [...listen, ...flags];
  } else {
    script = path(name === "bare" ? "bench/baseline_bare.ts" : "bench/baseline_coalescing.ts");
    args = listen;
  }
  const deno = [
    serve ? "serve" : "run",
    "-A",
    "--unstable-kv",
    // Parley runs as `deno task start` runs it, V8 flags included.
    ...(name === "parley" ? [`--v8-flags=${V8_FLAGS.join(",")}`] : []),
    ...(options.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfDir] : []),
    ...(serve ? ["--parallel", "--host", "127.0.0.1", "--port", String(port)] : []),
    script,
    ...(serve ? [] : args),
  ];
  const env: Record<string, string> = {
    NO_COLOR: "1",
    ...(serve ? { DENO_JOBS: String(options.jobs), ...parleyEnv(flags) } : {}),
  };
  // taskset execs deno, so the child's pid is the server's pid.
  const cores = options.cores ?? (options.pin ? "0" : undefined);
  const [command, commandArgs] = cores !== undefined
    ? ["taskset", ["-c", cores, Deno.execPath(), ...deno]]
    : [Deno.execPath(), deno];
  const child = new Deno.Command(command, {
    args: commandArgs,
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text = (text + decoder.decode(chunk)).slice(-20_000);
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const endpoint: Endpoint = {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    ...(jwtSecret ? { jwtSecret } : {}),
  };

  let stopping: Promise<void> | undefined;
  const stop = () => stopping ??= halt();
  const untrack = options.stoppers?.add(stop);
  const halt = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      // Parley closes its sockets (up to 2 s) and commits its queue; do not wait forever.
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, options.cpuProfDir ? 60_000 : 15_000);
      await status;
      clearTimeout(timer);
    }
    await drained;
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    untrack?.();
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${name} exited before it was ready:\n${text}`);
    }
    try {
      const response = await fetch(`${endpoint.url}/healthz`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} was not ready within 60 s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, pid: child.pid, ...endpoint, log: () => text, stop };
}

/**
 * What the server said beyond its start-up line, as distinct messages with counts (stack
 * frames, timestamps and user ids left out), most frequent first.
 */
export function serverLog(target: RunningTarget): string | undefined {
  const counts = new Map<string, number>();
  for (const line of target.log().split("\n")) {
    if (!line.trim() || /^\s+at /.test(line) || /listening on/i.test(line)) continue;
    const message = line.replace(/^\S+Z /, "").replace(/ user=\S+/, "");
    counts.set(message, (counts.get(message) ?? 0) + 1);
  }
  if (counts.size === 0) return undefined;
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5)
    .map(([message, n]) => `${n} × ${message}`).join("; ");
}
