/**
 * f and g in the report: each figure on the three topologies, the two-process run's ratios
 * to the one-process runs, and what bounds each figure, read off the runs' CPU.
 */
import {
  num,
  pct,
  ratio,
  type Results,
  type RunResult,
  SCENARIO_TITLES,
  type ScenarioResult,
  times,
  type TopologyRow,
} from "./report.ts";
import type { Cpu } from "./scenarios.ts";
import { type Topology, TOPOLOGY_LABELS } from "./targets.ts";

type Run = Exclude<RunResult, { kind: "error" }>;

function value(s: ScenarioResult, t: Topology, f: (r: Run) => number): number | null {
  const run = s.topologies?.[t];
  if (!run || run.kind === "error") return null;
  const v = f(run);
  return Number.isFinite(v) ? v : null;
}

/** Where a run's CPU went: Parley (by process), the engines, the generator. */
function where(cpu: Cpu): string {
  const parley = cpu.perServer
    ? `Parley ${pct(cpu.server)} (A ${cpu.perServer.map(pct).join(", B ")})`
    : `Parley ${pct(cpu.server)}`;
  const engines = Object.entries(cpu.engineParts ?? {}).map(([name, v]) => `, ${name} ${pct(v)}`);
  return `${parley}${engines.join("")}, generator ${pct(cpu.generator)}`;
}

/** The server side's share of its core (Parley plus the engines it uses). */
const serverSide = (cpu: Cpu) => cpu.server + (cpu.engines ?? 0);

/** What bounded one run, from where its CPU went. */
function bound(id: "f" | "g", r: Run, pinned: boolean): string {
  const c = r.cpu;
  const side = serverSide(c);
  const core0 = pinned ? c.cores?.[0] : undefined;
  if (c.generator > 0.9 && (core0 ?? side) < 0.9) {
    return "the generator was the bottleneck (a floor)";
  }
  if (core0 === undefined) return `the server side used ${pct(side)} of a core (not pinned)`;
  if (core0 >= 0.9) {
    return side >= 0.8 * core0
      ? `core 0 was full, ${pct(side)} of it the server side`
      : `core 0 was full, but only ${pct(side)} of it the server side: outside load took ${
        pct(Math.max(0, core0 - side))
      }`;
  }
  return id === "g"
    ? `core 0 was only ${pct(core0)} busy: the loop waited on round trips, not on CPU`
    : `core 0 was ${pct(core0)} busy`;
}

function limits(id: "f" | "g", s: ScenarioResult, pinned: boolean): string {
  const runs = (["pg2", "pg1", "kv1"] as Topology[])
    .map((t) => [t, s.topologies?.[t]] as const)
    .filter((x): x is [Topology, Run] => x[1] !== undefined && x[1].kind !== "error");
  if (runs.length === 0) return "no run finished";
  const core = pinned
    ? "Core 0 holds the server side (every Parley process, and redis-server and PostgreSQL " +
      "when used); the generator has core 1"
    : "Not pinned: servers, engines and generator share both cores";
  const per = runs.map(([t, r]) => `${t}: ${where(r.cpu)}; ${bound(id, r, pinned)}`);
  const others = Math.max(...runs.map(([, r]) => r.cpu.others));
  const outside = others > 0.3
    ? ` Other processes used up to ${pct(others)} of a core meanwhile: rerun on a quiet ` +
      "machine before quoting these."
    : "";
  const tail = id === "f"
    ? "pg2's path adds A's publish to Redis and B's intake to pg1's PostgreSQL commit; kv1 " +
      "commits to KV in-process."
    : pinned
    ? "pg2 gets no more CPU than kv1, so pg2 ÷ kv1 is the split's cost, not its scaling (that " +
      "needs a core or machine per process); CPU per message compares costs where outside " +
      "load distorts rates."
    : "pg2 ÷ kv1 mixes the split's cost with its use of the second core.";
  return `${core}. ${per.join(". ")}. ${tail}${outside}`;
}

export function buildTopologyRows(
  scenarios: Results["scenarios"],
  pinned: boolean,
): TopologyRow[] {
  const rows: TopologyRow[] = [];
  const add = (id: "f" | "g", figure: string, unit: string, f: (r: Run) => number) => {
    const s = scenarios[id]!;
    const [pg2, pg1, kv1] = (["pg2", "pg1", "kv1"] as Topology[]).map((t) => value(s, t, f));
    rows.push({
      scenario: id,
      figure,
      unit,
      pg2: pg2 ?? null,
      pg1: pg1 ?? null,
      kv1: kv1 ?? null,
      pg2VsPg1: ratio(pg2 ?? null, pg1 ?? null),
      pg2VsKv1: ratio(pg2 ?? null, kv1 ?? null),
      limits: limits(id, s, pinned),
    });
  };
  if (scenarios.f?.topologies) {
    const lat = (f: (r: Extract<Run, { kind: "latency" }>) => number) => (r: Run) =>
      r.kind === "latency" ? f(r) : NaN;
    add("f", "p50 latency, sender → receiver", "ms", lat((r) => r.p50Ms));
    add("f", "p99 latency, sender → receiver", "ms", lat((r) => r.p99Ms));
    add("f", "max latency", "ms", lat((r) => r.maxMs));
    add(
      "f",
      "server-side CPU per message",
      "µs",
      (r) => r.kind === "latency" && r.sendRate > 0 ? serverSide(r.cpu) * 1e6 / r.sendRate : NaN,
    );
  }
  if (scenarios.g?.topologies) {
    const tp = (f: (r: Extract<Run, { kind: "throughput" }>) => number) => (r: Run) =>
      r.kind === "throughput" && !r.stalled ? f(r) : NaN;
    add("g", "deliveries/s", "/s", tp((r) => r.deliveriesPerSecond));
    add("g", "messages committed/s (acked)", "msg/s", tp((r) => r.ackedPerSecond));
    add(
      "g",
      "server-side CPU per message",
      "µs",
      tp((r) => r.ackedPerSecond > 0 ? serverSide(r.cpu) * 1e6 / r.ackedPerSecond : NaN),
    );
  }
  return rows;
}

/** The markdown section for f and g, or nothing when neither ran. */
export function topologySection(results: Results): string[] {
  const ids = (["f", "g"] as const).filter((id) => results.scenarios[id]);
  if (ids.length === 0) return [];
  const lines = [
    "## Several processes",
    "",
    `pg2: ${TOPOLOGY_LABELS.pg2} (in f, senders on A and receivers on B; in g, alternate`,
    `clients on A and B). pg1: ${TOPOLOGY_LABELS.pg1}. kv1: ${TOPOLOGY_LABELS.kv1} (the`,
    "default). Same clients, rooms and load in all three. Ratios are pg2 ÷ the other: above 1 is",
    "slower for latency and costlier for CPU, below 1 is fewer for throughput. Server-side CPU per",
    "message is Parley's (both processes) plus Redis's and PostgreSQL's, over the messages sent (f)",
    "or committed (g): it holds up better than the rates when something else loads the machine.",
    "",
    "| Scenario | Figure | Unit | pg2 | pg1 | kv1 | pg2 ÷ pg1 | pg2 ÷ kv1 |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const id of ids) {
    const skipped = results.scenarios[id]!.skipped;
    if (skipped) lines.push(`| ${id}. ${SCENARIO_TITLES[id]} | skipped: ${skipped} | | | | | | |`);
  }
  for (const r of results.topologyRows ?? []) {
    lines.push(
      `| ${r.scenario}. ${SCENARIO_TITLES[r.scenario]} | ${r.figure} | ${r.unit} | ${
        num(r.pg2, r.unit)
      } | ${num(r.pg1, r.unit)} | ${num(r.kv1, r.unit)} | ${times(r.pg2VsPg1)} | ${
        times(r.pg2VsKv1)
      } |`,
    );
  }
  const seen = new Set<string>();
  const limitLines = (results.topologyRows ?? []).filter((r) => {
    const first = !seen.has(r.scenario);
    seen.add(r.scenario);
    return first;
  }).map((r) => `- What limits ${r.scenario} (${SCENARIO_TITLES[r.scenario]}): ${r.limits}`);
  if (limitLines.length) lines.push("", ...limitLines);
  return [lines.join("\n")];
}
