/**
 * `deno task bench --scenario parallel`: does `deno serve --parallel` (one hub per worker,
 * fanned out over a BroadcastChannel, one KV file) pay against one process? b and c run
 * against Parley three ways, each on a fresh server with the same flags and V8 flags:
 *
 * - pinned: one process on core 0, as in a–e;
 * - unpinned: one process on every core but the generator's;
 * - parallel: `deno serve --parallel` with DENO_JOBS workers (default: one per core, deno
 *   serve's own default), on the same cores as unpinned.
 *
 * The workers are threads of the one `deno serve` process, so its /proc stat is the CPU of
 * all of them; by thread name, `deno (main)`/`deno` and `serve-worker-N` are the workers' JS.
 * Results go into their own section of the markdown and under `parallel` in the JSON.
 */
import { BenchClient, type Endpoint, signIn, Tally } from "./client.ts";
import type { Progress } from "./progress.ts";
import {
  type Context,
  fmt,
  latency,
  type LatencyResult,
  saturate,
  type ThroughputResult,
} from "./scenarios.ts";
import {
  GENERATOR_CORE,
  type RunningTarget,
  serverLog,
  startTarget,
  type Stoppers,
} from "./targets.ts";

export const PARALLEL_HEADING = "## One process or `deno serve --parallel`";

export type Way = "pinned" | "unpinned" | "parallel";
export const WAYS: Way[] = ["pinned", "unpinned", "parallel"];

export interface ParallelPlan {
  command: string;
  revision: string;
  durationMs: number;
  warmupMs: number;
  smoke: boolean;
  sizes: {
    b: { clients: number; rooms: number; batch: number };
    c: { clients: number; rooms: number; ratePerClient: number };
  };
  /** The generator is on GENERATOR_CORE and the servers may be kept off it (taskset). */
  pin: boolean;
  parleyArgs: string[];
  /** DENO_JOBS for the parallel way. */
  jobs: number;
}

/** Connections per worker (hello's `instance`), most first; one entry for one process. */
type Split = { connectionsPerWorker: number[]; serverLog?: string };
type Failed = { kind: "error"; error: string };
export type ParallelRun<T> = (T & Split) | Failed;

export interface ParallelRow {
  figure: string;
  unit: string;
  pinned: number | null;
  unpinned: number | null;
  parallel: number | null;
  /** parallel ÷ pinned, parallel ÷ unpinned. */
  vsPinned: number | null;
  vsUnpinned: number | null;
}

export interface ParallelResults {
  command: string;
  revision: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  warmupS: number;
  smoke: boolean;
  nproc: number;
  jobs: number;
  /** Each way's `taskset -c` list; null: not restricted. */
  cores: Record<Way, string | null>;
  generatorCore: number | null;
  sizes: ParallelPlan["sizes"];
  b: Partial<Record<Way, ParallelRun<ThroughputResult>>>;
  c: Partial<Record<Way, ParallelRun<LatencyResult>>>;
  rows: ParallelRow[];
  notes: string[];
}

export const WAY_LABELS = (jobs: number): Record<Way, string> => ({
  pinned: "1 process, pinned",
  unpinned: "1 process, unpinned",
  parallel: `\`deno serve --parallel\`, ${jobs} workers`,
});

/** Every core but the generator's, as a taskset list; null where nothing is pinned. */
export function serverCores(pin: boolean, nproc: number): string | null {
  if (!pin) return null;
  return Array.from({ length: nproc }, (_, i) => i).filter((c) => c !== GENERATOR_CORE).join(",");
}

export async function parallelScenario(
  p: ParallelPlan,
  progress: Progress,
  stoppers: Stoppers,
): Promise<ParallelResults> {
  const nproc = navigator.hardwareConcurrency;
  const spare = serverCores(p.pin, nproc);
  const results: ParallelResults = {
    command: p.command,
    revision: p.revision,
    startedAt: new Date().toISOString(),
    finishedAt: "",
    durationS: p.durationMs / 1000,
    warmupS: p.warmupMs / 1000,
    smoke: p.smoke,
    nproc,
    jobs: p.jobs,
    cores: { pinned: p.pin ? "0" : null, unpinned: spare, parallel: spare },
    generatorCore: p.pin ? GENERATOR_CORE : null,
    sizes: p.sizes,
    b: {},
    c: {},
    rows: [],
    notes: [],
  };
  const labels = WAY_LABELS(p.jobs);
  for (const id of ["b", "c"] as const) {
    for (const way of WAYS) {
      progress.start(`parallel. ${id} / ${labels[way]}`);
      const run = await runWay(id, way, results.cores[way], p, progress, stoppers);
      if (id === "b") results.b[way] = run as ParallelRun<ThroughputResult>;
      else results.c[way] = run as ParallelRun<LatencyResult>;
      if (run.kind === "error") {
        progress.done(`FAILED: ${run.error.split("\n")[0]}`);
        continue;
      }
      const split = run.connectionsPerWorker.join("/");
      const cpu = `server CPU ${pct(run.cpu.server)}, generator ${pct(run.cpu.generator)}`;
      progress.done(
        run.kind === "throughput"
          ? `${fmt(run.deliveriesPerSecond)} deliveries/s (${cpu}, connections ${split})`
          : `p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms (${cpu}, ` +
            `connections ${split})`,
      );
    }
  }
  results.finishedAt = new Date().toISOString();
  results.rows = parallelRows(results);
  results.notes = parallelNotes(results);
  return results;
}

async function runWay(
  id: "b" | "c",
  way: Way,
  cores: string | null,
  p: ParallelPlan,
  progress: Progress,
  stoppers: Stoppers,
): Promise<ParallelRun<ThroughputResult | LatencyResult>> {
  let target: RunningTarget | null = null;
  try {
    target = await startTarget("parley", {
      pin: false,
      ...(cores === null ? {} : { cores }),
      ...(way === "parallel" ? { jobs: p.jobs } : {}),
      parleyArgs: p.parleyArgs,
      stoppers,
    });
    if (way === "parallel") {
      const ready = await everyWorker(target, p.jobs);
      if (ready < p.jobs) progress.note(`only ${ready} of ${p.jobs} workers answered within 10 s`);
    }
    let byWorker = new Map<string, number>();
    const ctx: Context = {
      endpoint: target,
      pid: target.pid,
      label: `parallel/${id}/${way}`,
      durationMs: p.durationMs,
      warmupMs: p.warmupMs,
      settleMs: 0,
      idleMs: 0,
      progress,
      onConnected: (clients: BenchClient[]) => {
        byWorker = new Map();
        for (const c of clients) byWorker.set(c.instance, (byWorker.get(c.instance) ?? 0) + 1);
      },
    };
    const result = id === "b" ? await saturate(ctx, p.sizes.b) : await latency(ctx, p.sizes.c);
    await target.stop();
    const log = serverLog(target);
    return {
      ...result,
      connectionsPerWorker: [...byWorker.values()].sort((a, b) => b - a),
      ...(log ? { serverLog: log.slice(-4000) } : {}),
    };
  } catch (error) {
    return { kind: "error", error: error instanceof Error ? error.message : String(error) };
  } finally {
    await target?.stop();
  }
}

/**
 * Each worker composes its app on its first request (server.ts), and the first worker up
 * answers /healthz before the others listen: open sockets until every worker has said
 * hello (or 10 s pass), so the measured clients meet warm workers. Returns how many did.
 */
async function everyWorker(endpoint: Endpoint, jobs: number): Promise<number> {
  const seen = new Set<string>();
  const clients: BenchClient[] = [];
  const deadline = performance.now() + 10_000;
  try {
    for (let i = 0; seen.size < jobs && performance.now() < deadline; i++) {
      const identity = await signIn(endpoint, `warm-${i}`, `warm ${i}`);
      const client = await BenchClient.connect(identity, i, new Tally());
      clients.push(client);
      seen.add(client.instance);
      if (seen.size < jobs) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const c of clients) c.close();
  }
  return seen.size;
}

const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

function ok<T extends { kind: string }>(run: ParallelRun<T> | undefined): (T & Split) | null {
  return run && run.kind !== "error" ? run as T & Split : null;
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? null
    : a / b;
}

export function parallelRows(r: ParallelResults): ParallelRow[] {
  const rows: ParallelRow[] = [];
  const add = (
    figure: string,
    unit: string,
    pick: (way: Way) => number | null,
  ) => {
    const [pinned = null, unpinned = null, parallel = null] = WAYS.map(pick);
    rows.push({
      figure,
      unit,
      pinned,
      unpinned,
      parallel,
      vsPinned: ratio(parallel, pinned),
      vsUnpinned: ratio(parallel, unpinned),
    });
  };
  const b = (way: Way) => ok(r.b[way]);
  const c = (way: Way) => ok(r.c[way]);
  add("b. deliveries/s", "/s", (w) => b(w)?.deliveriesPerSecond ?? null);
  add("b. server CPU", "cores", (w) => b(w)?.cpu.server ?? null);
  add("b. deliveries per server core-second", "/core-s", (w) => {
    const run = b(w);
    return run && run.cpu.server > 0 ? run.deliveriesPerSecond / run.cpu.server : null;
  });
  add("b. generator CPU", "cores", (w) => b(w)?.cpu.generator ?? null);
  add("c. p50", "ms", (w) => c(w)?.p50Ms ?? null);
  add("c. p99", "ms", (w) => c(w)?.p99Ms ?? null);
  add("c. max", "ms", (w) => c(w)?.maxMs ?? null);
  add("c. server CPU", "cores", (w) => c(w)?.cpu.server ?? null);
  add("c. generator CPU", "cores", (w) => c(w)?.cpu.generator ?? null);
  return rows;
}

export function parallelNotes(r: ParallelResults): string[] {
  const notes: string[] = [];
  const spare = r.cores.parallel?.split(",").length ?? r.nproc;
  if (r.cores.parallel !== null && spare < r.jobs) {
    notes.push(
      `The ${r.jobs} workers share ${spare} core${spare === 1 ? "" : "s"} (${r.nproc} cores, ` +
        `the generator on core ${r.generatorCore}): this measures what splitting Parley over ` +
        "workers costs, not what spare cores would give.",
    );
  }
  if (r.cores.unpinned === r.cores.pinned) {
    notes.push(
      "With the generator on one of 2 cores, pinned and unpinned are the same cores; the two " +
        "one-process runs differ only by run-to-run noise.",
    );
  }
  for (const id of ["b", "c"] as const) {
    for (const way of WAYS) {
      const run = r[id][way];
      const at = `${id}/${way}`;
      if (!run) continue;
      if (run.kind === "error") {
        notes.push(`${at} failed: ${run.error.split("\n")[0]}`);
        continue;
      }
      if (run.serverLog) notes.push(`${at}: the server logged ${run.serverLog}`);
      if (run.cpu.others > 0.1) {
        notes.push(`${at}: other processes used ${pct(run.cpu.others)} of a core; suspect.`);
      }
      if (way === "parallel" && run.connectionsPerWorker.length < r.jobs) {
        notes.push(
          `${at}: connections reached ${run.connectionsPerWorker.length} of ${r.jobs} workers.`,
        );
      }
      if (run.kind === "throughput") {
        if (run.cpu.generator > 0.9 && run.cpu.server < 0.9 * spare) {
          notes.push(
            `${at}: the generator was the bottleneck (${pct(run.cpu.generator)} of its core, ` +
              `server ${pct(run.cpu.server)}); the figure is a floor.`,
          );
        }
        if (run.stalled) notes.push(`${at}: a round never completed (messages lost).`);
        if (run.errors + run.rateLimited > 0) {
          notes.push(`${at}: ${run.errors + run.rateLimited} sends were refused.`);
        }
      } else if (run.missing > 0) {
        notes.push(`${at}: ${run.missing} deliveries never arrived within the grace period.`);
      }
    }
  }
  return notes;
}

const figure = (n: number | null, unit: string) => {
  if (n === null) return "–";
  if (unit === "cores") return pct(n);
  if (unit === "ms") return n.toFixed(n < 10 ? 2 : 1);
  return fmt(n);
};
const times = (n: number | null) => (n === null ? "–" : `${n.toFixed(2)}×`);

/** Thread shares of one core, the largest first: "deno (main) 61%, serve-worker-1 30%". */
function threads(shares: Record<string, number>): string {
  return Object.entries(shares).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1])
    .slice(0, 6).map(([name, v]) => `${name} ${pct(v)}`).join(", ");
}

export function parallelMarkdown(r: ParallelResults): string {
  const labels = WAY_LABELS(r.jobs);
  const where = (way: Way) => r.cores[way] === null ? "any core" : `cores ${r.cores[way]}`;
  const { b, c } = r.sizes;
  const lines = [
    PARALLEL_HEADING,
    "",
    `\`${r.command}\` (${r.revision}, ${r.startedAt}): b (${b.clients} clients in ${b.rooms} ` +
    `rooms, batches of ${b.batch}) and c (${c.clients} clients in ${c.rooms} rooms at ` +
    `${c.ratePerClient} msg/s each) against Parley three ways, each on a fresh server with ` +
    `the same flags and V8 flags, ${r.durationS} s measured after ${r.warmupS} s: ` +
    `${labels.pinned} (${where("pinned")}), ${labels.unpinned} (${where("unpinned")}) and ` +
    `${labels.parallel} (DENO_JOBS=${r.jobs}, ${where("parallel")}, configured by PARLEY_* ` +
    `variables). ${r.nproc} cores; the generator ${
      r.generatorCore === null ? "is not pinned" : `is on core ${r.generatorCore}`
    }. Server CPU is the process's utime + stime (every worker thread), in shares of one ` +
    "core. For latency and CPU, a ratio below 1 favours `--parallel`.",
    "",
    `| Figure | ${WAYS.map((w) => labels[w]).join(" | ")} | ÷ pinned | ÷ unpinned |`,
    "| --- | --: | --: | --: | --: | --: |",
  ];
  for (const row of r.rows) {
    lines.push(
      `| ${row.figure}${row.unit === "ms" ? " (ms)" : ""} | ${
        WAYS.map((w) => figure(row[w], row.unit)).join(" | ")
      } | ${times(row.vsPinned)} | ${times(row.vsUnpinned)} |`,
    );
  }
  lines.push("");
  for (const id of ["b", "c"] as const) {
    for (const way of WAYS) {
      const run = ok<ThroughputResult | LatencyResult>(r[id][way]);
      if (!run) continue;
      const cores = run.cpu.cores?.map((v, i) => `${i} ${pct(v)}`).join(", ");
      lines.push(
        `- ${id}, ${labels[way]}: connections per worker ${
          run.connectionsPerWorker.join(" / ")
        }; ` +
          `server threads ${threads(run.cpu.serverThreads)}` +
          (cores ? `; cores busy ${cores}` : ""),
      );
    }
  }
  if (r.notes.length) lines.push("", ...r.notes.map((n) => `- ${n}`));
  return lines.join("\n") + "\n";
}

/** The `parallel` member of a results JSON file, if it has one. */
export async function parallelJson(path: string): Promise<ParallelResults | null> {
  try {
    const json = JSON.parse(await Deno.readTextFile(path)) as { parallel?: ParallelResults };
    return json.parallel ?? null;
  } catch {
    return null;
  }
}

/** Set `parallel` in the results JSON file at `path`, keeping everything else in it. */
export async function writeParallelJson(path: string, results: ParallelResults): Promise<void> {
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch { /* a new file */ }
  json.parallel = results;
  await Deno.writeTextFile(path, JSON.stringify(json, null, 2) + "\n");
}
