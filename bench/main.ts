/**
 * `deno task bench`: Parley's load generator. It starts each server under test itself
 * (Parley with KV on disk, and two bare baselines; for f and g also Parley on PostgreSQL
 * and Redis, in one and two processes), drives it over 127.0.0.1 with Parley's real
 * protocol, and writes a markdown table and JSON. Run with --help.
 */
import { parseArgs } from "node:util";
import { Engines, enginesMissing } from "./engines.ts";
import type { KvWriterResult } from "./kv_writer.ts";
import { ephemeralPortCount, machine } from "./proc.ts";
import { Progress } from "./progress.ts";
import { PROFILE_HEADING, profileMarkdown, runProfiles } from "./profile.ts";
import { sectionOf, writeSection } from "./sections.ts";
import {
  buildRows,
  markdown,
  type Results,
  type RunResult,
  SCENARIO_TITLES,
  type ScenarioId,
  type ScenarioResult,
} from "./report.ts";
import { buildTopologyRows, topologySection } from "./report_topology.ts";
import {
  PARALLEL_HEADING,
  parallelJson,
  parallelMarkdown,
  parallelScenario,
  writeParallelJson,
} from "./parallel.ts";
import { type Context, fmt, idle, latency, saturate } from "./scenarios.ts";
import {
  GENERATOR_CORE,
  hasTaskset,
  pinSelf,
  ROOT,
  type RunningTarget,
  serverLog,
  startTarget,
  Stoppers,
  TARGET_LABELS,
  type TargetName,
  type TargetOptions,
  TOPOLOGIES,
} from "./targets.ts";
import { runTopology, type TopologySizes } from "./topology.ts";
import { SEARCH_HEADING, SEARCH_SIZES, SEARCH_SMOKE, searchScenario } from "./search.ts";
import { STARTUP_HEADING, startupHistory, startupMarkdown, startupScenario } from "./startup.ts";

const HELP = `Usage: deno task bench [options]

Runs Parley and two bare baselines (bench/baseline_bare.ts, bench/baseline_coalescing.ts)
under the same load and reports each Parley figure as a ratio to both.

Scenarios:
  a  busy room: 32 clients in one room, pipelined batches; deliveries/s, peak RSS
  b  many rooms: 1,000 clients in 100 rooms, same loop; deliveries/s
  c  latency: 1,000 clients in 100 rooms at --rate msg/s each; p50/p99/max
  d  idle connections: 10,000 authenticated sockets; server RSS per connection
  e  persistence: 100 concurrent senders into Deno KV; group commit vs one per message
  f  cross-process latency: 32 clients in 4 rooms, 16 senders at --cross-rate msg/s each
     on process A, 16 receivers on B (PostgreSQL store, Redis bus); p50/p99 against the
     same load on 1 process with PostgreSQL + Redis and on 1 process with KV + local bus
  g  room over 2 processes: a's closed loop (32 clients, one room, batches of 50), half
     the clients on each of 2 processes (PostgreSQL, Redis); deliveries/s and messages
     committed/s against the same on 1 process (PostgreSQL + Redis, and KV + local bus)
     f and g start their own redis-server and PostgreSQL 15 (skipped if either is missing)
  s  search: 1,000,000 messages in 100 rooms on the KV and PostgreSQL stores; p50/p99 of
     store.search() per query kind (bench/search.ts; its own section of the markdown)
  startup  ms from spawn to the first 200 on GET /, median of 7 runs (smoke: 2): the
     single-file bundle from an empty directory, server.ts, and a bare Deno.serve
     hello-world (bench/startup.ts; its own section of the markdown)
  parallel  b and c against Parley three ways: one process pinned to core 0, one process
     on every core but the generator's, and deno serve --parallel (--jobs workers) on
     those cores; deliveries/s, p50/p99, server CPU and the ratios (bench/parallel.ts;
     its own section of the markdown, "parallel" in the JSON)

Options:
  --scenario a,b,...   Scenarios to run (default: all)
  --duration <s>       Measured seconds per run (default 20; smoke 1)
  --rate <n>           Messages per second per client in c (default 5)
  --cross-rate <n>     Messages per second per sender in f (default 20: 320 msg/s in all)
  --jobs <n>           DENO_JOBS for deno serve --parallel in "parallel" (default: the cores)
  --smoke              A few seconds per scenario at small sizes (for CI)
  --json <path>        Where to write JSON (default bench/results.json; smoke: a temp dir)
  --markdown <path>    Where to write markdown (default bench/RESULTS.md; smoke: a temp dir)
  --parley-arg <flag>  Extra flag for Parley (repeat), e.g. --parley-arg=--max-buffered=2097152
  --cpu-prof <dir>     Write a V8 CPU profile of each Parley run into <dir>
  --profile            Only Parley in b and c (or --scenario b / c): µs and bytes per message
                       by stage from a CPU profile of --duration s (default 10) and a heap
                       profile, into RESULTS.md's "Where a message's time goes" (bench/profile.ts)
  --profile-out <dir>  With --profile: keep the .cpuprofile and .heapprofile files in <dir>
  --targets <list>     Servers to run: bare,coalescing,parley (default all; ratios need all)
  --client-render      Only the web client: first render of a 50-message room, bundle gzip size
  --help               Show this help`;

interface Plan {
  scenarios: ScenarioId[];
  targets: TargetName[];
  durationMs: number;
  warmupMs: number;
  smoke: boolean;
  sizes: {
    a: { clients: number; rooms: number; batch: number };
    b: { clients: number; rooms: number; batch: number };
    c: { clients: number; rooms: number; ratePerClient: number };
    d: { connections: number; rooms: number; warmup: number };
    e: { senders: number; rooms: number };
  } & TopologySizes;
}

const ALL: ScenarioId[] = ["a", "b", "c", "d", "e", "f", "g"];
/** Baselines first, so a Parley run never follows its own backlog's shutdown. */
const TARGETS: TargetName[] = ["bare", "coalescing", "parley"];

function plan(
  args: string[],
): Plan & {
  json: string;
  markdown: string;
  target: TargetOptions;
  search: boolean;
  startup: boolean;
  parallel: boolean;
  jobs: number;
  profile: false | { outDir?: string };
} {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: "string" },
      duration: { type: "string" },
      rate: { type: "string", default: "5" },
      "cross-rate": { type: "string", default: "20" },
      jobs: { type: "string" },
      smoke: { type: "boolean", default: false },
      json: { type: "string" },
      markdown: { type: "string" },
      "parley-arg": { type: "string", multiple: true, default: [] },
      "cpu-prof": { type: "string" },
      profile: { type: "boolean", default: false },
      "profile-out": { type: "string" },
      targets: { type: "string", default: TARGETS.join(",") },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const fail = (message: string): never => {
    console.error(`error: ${message}\n\n${HELP}`);
    Deno.exit(2);
  };
  const sections = ["s", "startup", "parallel"];
  const scenarios = (values.scenario ?? [...ALL, ...sections].join(",")).split(",").map((s) =>
    s.trim()
  );
  for (const s of scenarios) {
    if (!sections.includes(s) && !ALL.includes(s as ScenarioId)) {
      fail(`unknown scenario "${s}"`);
    }
  }
  const targets = values.targets.split(",").map((t) => t.trim());
  for (const t of targets) if (!TARGETS.includes(t as TargetName)) fail(`unknown target "${t}"`);
  const smoke = values.smoke;
  const durationS = Number(values.duration ?? (smoke ? 1 : values.profile ? 10 : 20));
  if (!(durationS > 0 && durationS <= 600)) fail("--duration must be 0-600 seconds");
  const rate = Number(values.rate);
  if (!(rate > 0 && rate <= 1000)) fail("--rate must be 0-1000 messages per second");
  const crossRate = Number(values["cross-rate"]);
  if (!(crossRate > 0 && crossRate <= 1000)) {
    fail("--cross-rate must be 0-1000 messages per second");
  }
  const jobs = Number(values.jobs ?? navigator.hardwareConcurrency);
  if (!(Number.isInteger(jobs) && jobs >= 1 && jobs <= 256)) fail("--jobs must be 1-256");
  // A smoke run writes into a temp dir, unless told where (the smoke test says where).
  const out = smoke && !(values.json && values.markdown)
    ? Deno.makeTempDirSync({ prefix: "parley-bench-smoke-" })
    : null;
  return {
    scenarios: ALL.filter((s) => scenarios.includes(s)),
    search: scenarios.includes("s"),
    startup: scenarios.includes("startup"),
    parallel: scenarios.includes("parallel"),
    jobs,
    profile: values.profile
      ? values["profile-out"] ? { outDir: values["profile-out"] } : {}
      : false,
    targets: TARGETS.filter((t) => targets.includes(t)),
    durationMs: durationS * 1000,
    warmupMs: smoke ? 200 : Math.min(2000, durationS * 150),
    smoke,
    sizes: smoke
      ? {
        a: { clients: 8, rooms: 1, batch: 10 },
        b: { clients: 40, rooms: 4, batch: 10 },
        c: { clients: 40, rooms: 4, ratePerClient: rate },
        d: { connections: 100, rooms: 10, warmup: 10 },
        e: { senders: 10, rooms: 2 },
        f: { clients: 8, rooms: 2, ratePerSender: crossRate },
        g: { clients: 8, rooms: 1, batch: 10 },
      }
      : {
        a: { clients: 32, rooms: 1, batch: 50 },
        b: { clients: 1000, rooms: 100, batch: 50 },
        c: { clients: 1000, rooms: 100, ratePerClient: rate },
        d: { connections: 10_000, rooms: 100, warmup: 100 },
        e: { senders: 100, rooms: 10 },
        f: { clients: 32, rooms: 4, ratePerSender: crossRate },
        g: { clients: 32, rooms: 1, batch: 50 },
      },
    json: values.json ??
      (out ? `${out}/results.json` : new URL("bench/results.json", ROOT).pathname),
    markdown: values.markdown ??
      (out ? `${out}/RESULTS.md` : new URL("bench/RESULTS.md", ROOT).pathname),
    target: {
      pin: false,
      parleyArgs: values["parley-arg"] as string[],
      ...(values["cpu-prof"] ? { cpuProfDir: values["cpu-prof"] } : {}),
    },
  };
}

async function runOne(
  id: ScenarioId,
  name: TargetName,
  p: ReturnType<typeof plan>,
  progress: Progress,
  stoppers: Stoppers,
): Promise<RunResult> {
  progress.start(`${id}. ${SCENARIO_TITLES[id]} / ${TARGET_LABELS[name]}`);
  let target: RunningTarget | null = null;
  try {
    // Profile only Parley; a profile of a baseline is not what anyone asked for.
    const options: TargetOptions = name === "parley"
      ? { ...p.target, stoppers }
      : { pin: p.target.pin, parleyArgs: [], stoppers };
    target = await startTarget(name, options);
    const ctx: Context = {
      endpoint: target,
      pid: target.pid,
      label: `${id}/${name}`,
      durationMs: p.durationMs,
      warmupMs: p.warmupMs,
      settleMs: p.smoke ? 500 : 3000,
      idleMs: p.smoke ? 1000 : 20_000,
      progress,
    };
    let result: RunResult;
    if (id === "a" || id === "b") {
      const r = await saturate(ctx, p.sizes[id]);
      progress.done(
        `${fmt(r.deliveriesPerSecond)} deliveries/s (${r.rounds} rounds, server CPU ${
          pct(r.cpu.server)
        }, generator CPU ${pct(r.cpu.generator)}${r.stalled ? ", STALLED" : ""})`,
      );
      result = r;
    } else if (id === "c") {
      const r = await latency(ctx, p.sizes.c);
      progress.done(
        `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${
          r.maxMs.toFixed(1)
        } ms (${r.samples} samples, missing ${r.missing})`,
      );
      result = r;
    } else {
      const r = await idle(ctx, p.sizes.d);
      progress.done(`${(r.bytesPerConnection / 1024).toFixed(1)} KiB per connection`);
      result = r;
    }
    // Read after stop, so shutdown complaints are in it too.
    await target.stop();
    const log = serverLog(target);
    return log ? { ...result, serverLog: log.slice(-4000) } : result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.done(`FAILED: ${message}`);
    return { kind: "error", error: message };
  } finally {
    await target?.stop();
  }
}

async function kvWriter(
  mode: "grouped" | "single",
  p: ReturnType<typeof plan>,
  pin: boolean,
  progress: Progress,
): Promise<KvWriterResult | { kind: "error"; error: string }> {
  progress.start(`e. persistence / ${mode === "grouped" ? "group commit" : "one per message"}`);
  progress.update(`${p.durationMs / 1000} s with ${p.sizes.e.senders} senders`);
  const deno = [
    "run",
    "-A",
    "--unstable-kv",
    new URL("bench/kv_writer.ts", ROOT).pathname,
    "--mode",
    mode,
    "--duration",
    String(p.durationMs),
    "--warmup",
    String(p.warmupMs),
    "--senders",
    String(p.sizes.e.senders),
    "--rooms",
    String(p.sizes.e.rooms),
  ];
  const child = new Deno.Command(pin ? "taskset" : Deno.execPath(), {
    args: pin ? ["-c", "0", Deno.execPath(), ...deno] : deno,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), p.durationMs + p.warmupMs + 60_000);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim());
    const result = JSON.parse(text.split("\n").at(-1)!) as KvWriterResult;
    progress.done(`${fmt(result.perSecond)} messages/s in ${result.commits} commits`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.done(`FAILED: ${message}`);
    return { kind: "error", error: message };
  } finally {
    clearTimeout(timer);
  }
}

const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

/** The commit measured, and which files under test differed from it (work in progress). */
async function revision(): Promise<string> {
  const git = async (...args: string[]) => {
    try {
      const out = await new Deno.Command("git", { args, cwd: ROOT, stderr: "null" }).output();
      // Only the end: a porcelain line starts with a space (" M server.ts").
      return out.success ? new TextDecoder().decode(out.stdout).trimEnd() : "";
    } catch {
      return "";
    }
  };
  const head = await git("rev-parse", "--short", "HEAD");
  if (!head) return "unknown";
  const dirty = (await git("status", "--porcelain", "--", "server", "server.ts", "protocol"))
    .split("\n").filter(Boolean).map((l) => l.slice(3));
  return dirty.length ? `${head} with uncommitted changes to ${dirty.join(", ")}` : head;
}

function notesFor(results: Results, p: Plan): string[] {
  const notes: string[] = [];
  for (const [id, s] of Object.entries(results.scenarios) as [ScenarioId, ScenarioResult][]) {
    const runs = [
      ...Object.entries(s.runs),
      ...Object.entries(s.topologies ?? {}),
    ] as [string, RunResult][];
    for (const [name, run] of runs) {
      if (run.kind === "error") {
        notes.push(`${id}/${name} failed: ${run.error.split("\n")[0]}`);
        continue;
      }
      if (run.serverLog) {
        notes.push(
          `${id}/${name}: the server logged (during the run or at shutdown) ${run.serverLog}`,
        );
      }
      if (run.cpu.others > 0.1) {
        notes.push(
          `${id}/${name}: other processes used ${pct(run.cpu.others)} of a core during the run; ` +
            "its figures are suspect.",
        );
      }
      if (run.kind === "throughput") {
        if (run.cpu.generator > 0.9 && run.cpu.server < 0.9) {
          notes.push(
            `${id}/${name}: the load generator was the bottleneck (generator CPU ${
              pct(run.cpu.generator)
            }, server ${pct(run.cpu.server)}); this figure is a floor.`,
          );
        }
        if (run.rateLimited > 0) {
          notes.push(
            `${id}/${name}: ${run.rateLimited} sends were refused with rate_limited and resent, ` +
              "so a rate limit, not the server, set this figure.",
          );
        }
        if (run.stalled) notes.push(`${id}/${name}: a round never completed (messages lost).`);
        if (run.errors > 0) notes.push(`${id}/${name}: ${run.errors} sends were refused.`);
      }
      if (run.kind === "latency" && run.missing > 0) {
        notes.push(
          `${id}/${name}: ${run.missing} deliveries never arrived within the grace period.`,
        );
      }
    }
  }
  if (p.scenarios.includes("d")) {
    notes.push(
      `d: ${p.sizes.d.connections + p.sizes.d.warmup} connections from one source address fit ` +
        `the ${ephemeralPortCount()}-port ephemeral range (one destination, so one port each).`,
    );
  }
  return notes;
}

async function main(): Promise<number> {
  const p = plan(Deno.args);
  const progress = new Progress();
  const pin = navigator.hardwareConcurrency >= 2 && await hasTaskset() &&
    await pinSelf(GENERATOR_CORE);
  p.target.pin = pin;
  if (!pin) progress.note("note: not pinning (taskset missing or a single core)");
  // Servers and engines still running when the bench is interrupted are stopped first.
  const stoppers = new Stoppers();
  const engines = new Engines(pin ? 0 : null);
  const interrupted = async () => {
    progress.note("interrupted: stopping servers, Redis and PostgreSQL");
    await stoppers.stopAll();
    await engines.stop();
    Deno.exit(130);
  };
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, interrupted);
  try {
    if (p.profile) return await profile(p, pin, progress, stoppers);
    // Scenarios s, startup and parallel and the profile (--profile) have sections of their
    // own, kept when a run leaves them out; "parallel" keeps its JSON too.
    const before = await Deno.readTextFile(p.markdown).catch(() => "");
    const kept = sectionOf(before, SEARCH_HEADING);
    const keptStartup = sectionOf(before, STARTUP_HEADING);
    const keptProfile = sectionOf(before, PROFILE_HEADING);
    const keptParallel = sectionOf(before, PARALLEL_HEADING);
    const keptParallelJson = await parallelJson(p.json);
    let code = p.scenarios.length ? await measure(p, pin, progress, stoppers, engines) : 0;
    const search = p.search
      ? await searchScenario(
        p.smoke ? SEARCH_SMOKE : SEARCH_SIZES,
        progress,
        ["deno task bench", ...Deno.args].join(" "),
      )
      : kept;
    if (search) {
      await writeSection(p.markdown, SEARCH_HEADING, search);
      await formatInRepo(p.markdown);
      if (p.search) console.log(search);
    }
    // So has the start-up scenario; a new run keeps the section's hand-written history.
    const startup = p.startup
      ? startupMarkdown(
        await startupScenario(p.smoke ? 2 : 7, progress, stoppers),
        ["deno task bench", ...Deno.args].join(" "),
        startupHistory(keptStartup),
      )
      : keptStartup;
    if (startup) {
      await writeSection(p.markdown, STARTUP_HEADING, startup);
      await formatInRepo(p.markdown);
      if (p.startup) console.log(startup);
    }
    const command = ["deno task bench", ...Deno.args].join(" ");
    if (p.parallel) {
      const results = await parallelScenario(
        {
          command,
          revision: await revision(),
          durationMs: p.durationMs,
          warmupMs: p.warmupMs,
          smoke: p.smoke,
          sizes: { b: p.sizes.b, c: p.sizes.c },
          pin,
          parleyArgs: p.target.parleyArgs,
          jobs: p.jobs,
        },
        progress,
        stoppers,
      );
      const section = parallelMarkdown(results);
      await writeSection(p.markdown, PARALLEL_HEADING, section);
      await writeParallelJson(p.json, results);
      await formatInRepo(p.markdown, p.json);
      console.log(section);
      const failed = [...Object.values(results.b), ...Object.values(results.c)]
        .some((run) => run.kind === "error");
      if (failed) code = 1;
    } else if (keptParallel || keptParallelJson) {
      if (keptParallel) await writeSection(p.markdown, PARALLEL_HEADING, keptParallel);
      if (keptParallelJson && p.scenarios.length) await writeParallelJson(p.json, keptParallelJson);
      await formatInRepo(p.markdown, p.json);
    }
    if (keptProfile) {
      await writeSection(p.markdown, PROFILE_HEADING, keptProfile);
      await formatInRepo(p.markdown);
    }
    return code;
  } finally {
    await stoppers.stopAll();
    await engines.stop();
    for (const signal of signals) Deno.removeSignalListener(signal, interrupted);
  }
}

/** `deno fmt` the files among these that are in the repository (its check covers .md, .json). */
async function formatInRepo(...files: string[]): Promise<void> {
  const inRepo = files.filter((f) => f.startsWith(ROOT.pathname));
  if (!inRepo.length) return;
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...inRepo],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
}

/** --profile: Parley alone in b and c, its time and allocation per message by stage. */
async function profile(
  p: ReturnType<typeof plan>,
  pin: boolean,
  progress: Progress,
  stoppers: Stoppers,
): Promise<number> {
  const scenarios = (["b", "c"] as const).filter((s) =>
    p.scenarios.length === ALL.length || p.scenarios.includes(s)
  );
  const runs = await runProfiles(
    {
      scenarios,
      cpuMs: p.durationMs,
      heapMs: p.smoke ? 500 : 4000,
      intervalUs: 500,
      pin,
      sizes: { b: p.sizes.b, c: p.sizes.c },
      parleyArgs: p.target.parleyArgs,
      ...(p.profile && p.profile.outDir ? { outDir: p.profile.outDir } : {}),
    },
    progress,
    stoppers,
  );
  const section = profileMarkdown(
    runs,
    ["deno task bench", ...Deno.args].join(" "),
    await revision(),
  );
  console.log(section);
  await writeSection(p.markdown, PROFILE_HEADING, section);
  await formatInRepo(p.markdown);
  return runs.some((r) => r.error) ? 1 : 0;
}

async function measure(
  p: ReturnType<typeof plan>,
  pin: boolean,
  progress: Progress,
  stoppers: Stoppers,
  engines: Engines,
): Promise<number> {
  const results: Results = {
    version: 1,
    startedAt: new Date().toISOString(),
    finishedAt: "",
    command: ["deno task bench", ...Deno.args].join(" "),
    revision: await revision(),
    durationS: p.durationMs / 1000,
    warmupS: p.warmupMs / 1000,
    smoke: p.smoke,
    pinned: pin,
    machine: machine(pin),
    scenarios: {},
    rows: [],
    notes: [],
  };
  for (const id of p.scenarios) {
    const scenario: ScenarioResult = { sizes: { ...p.sizes[id] }, runs: {} };
    results.scenarios[id] = scenario;
    if (id === "e") {
      scenario.persistence = {
        grouped: await kvWriter("grouped", p, pin, progress),
        single: await kvWriter("single", p, pin, progress),
      };
      continue;
    }
    if (id === "f" || id === "g") {
      const missing = enginesMissing();
      if (missing) {
        scenario.skipped = missing;
        progress.note(`${id}. ${SCENARIO_TITLES[id]}: skipped: ${missing}`);
        continue;
      }
      scenario.topologies = {};
      for (const topology of TOPOLOGIES) {
        scenario.topologies[topology] = await runTopology(
          id,
          topology,
          p,
          engines,
          stoppers,
          progress,
        );
      }
      continue;
    }
    for (const name of p.targets) {
      scenario.runs[name] = await runOne(id, name, p, progress, stoppers);
    }
  }
  results.finishedAt = new Date().toISOString();
  const after = await revision();
  if (after !== results.revision) {
    results.revision += ` (at the end: ${after}; the code changed during the run)`;
  }
  results.rows = buildRows(results.scenarios);
  if (results.scenarios.f || results.scenarios.g) {
    results.topologyRows = buildTopologyRows(results.scenarios, pin);
  }
  results.notes = notesFor(results, p);
  const md = markdown(results, topologySection(results));
  await Deno.writeTextFile(p.json, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(p.markdown, md);
  // Files written into the repository must pass its `deno fmt --check` (.md and .json).
  await formatInRepo(p.json, p.markdown);
  console.log(md);
  console.log(`\nwrote ${p.json} and ${p.markdown}`);
  const failed = Object.values(results.scenarios).some((s) =>
    Object.values(s.runs).some((r) => r.kind === "error") ||
    Object.values(s.topologies ?? {}).some((r) => r.kind === "error") ||
    Object.values(s.persistence ?? {}).some((r) => "kind" in r)
  );
  return failed ? 1 : 0;
}

if (import.meta.main) {
  // The web client's first render and bundle size: a scenario of its own, run on its own.
  if (Deno.args.includes("--client-render")) {
    Deno.exit(await (await import("./client_render.ts")).main());
  }
  Deno.exit(await main());
}
