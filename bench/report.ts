/** Turn the raw results into figure rows (with ratios and targets) and markdown. */
import type { KvWriterResult } from "./kv_writer.ts";
import type { ParallelResults } from "./parallel.ts";
import type { Machine } from "./proc.ts";
import { fmt, type IdleResult, type LatencyResult, type ThroughputResult } from "./scenarios.ts";
import { TARGET_LABELS, type TargetName, type Topology, TOPOLOGY_LABELS } from "./targets.ts";

export type ScenarioId = "a" | "b" | "c" | "d" | "e" | "f" | "g";

export const SCENARIO_TITLES: Record<ScenarioId, string> = {
  a: "busy room",
  b: "many rooms",
  c: "latency",
  d: "idle connections",
  e: "persistence",
  f: "cross-process latency",
  g: "room over 2 processes",
};

export type RunResult = ThroughputResult | LatencyResult | IdleResult | {
  kind: "error";
  error: string;
};

export interface ScenarioResult {
  sizes: Record<string, number>;
  runs: Partial<Record<TargetName, RunResult>>;
  persistence?: {
    grouped: KvWriterResult | { kind: "error"; error: string };
    single: KvWriterResult | { kind: "error"; error: string };
  };
  /** f and g: one run per way of deploying Parley (bench/topology.ts). */
  topologies?: Partial<Record<Topology, RunResult>>;
  /** Why the scenario did not run (e.g. redis-server missing); not a failure. */
  skipped?: string;
}

export interface Row {
  scenario: ScenarioId;
  figure: string;
  unit: string;
  parley: number | null;
  bare: number | null;
  coalescing: number | null;
  vsBare: number | null;
  vsCoalescing: number | null;
  target: string;
  /** null when the row has no target. */
  met: boolean | null;
}

/** A figure of f or g on each topology, with the ratios of the two-process run to the others. */
export interface TopologyRow {
  scenario: "f" | "g";
  figure: string;
  unit: string;
  pg2: number | null;
  pg1: number | null;
  kv1: number | null;
  /** 2 processes ÷ 1 process, both on PostgreSQL + Redis: what splitting the room costs. */
  pg2VsPg1: number | null;
  /** 2 processes ÷ the default (1 process, KV, local bus). */
  pg2VsKv1: number | null;
  /** What bounds this figure on this machine, from the runs' CPU. */
  limits: string;
}

export interface Results {
  version: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  /** The git commit measured, noting uncommitted changes to the server. */
  revision: string;
  durationS: number;
  warmupS: number;
  smoke: boolean;
  pinned: boolean;
  machine: Machine;
  scenarios: Partial<Record<ScenarioId, ScenarioResult>>;
  rows: Row[];
  /** f and g (bench/report_topology.ts). */
  topologyRows?: TopologyRow[];
  /** --scenario parallel: one process against `deno serve --parallel` (bench/parallel.ts). */
  parallel?: ParallelResults;
  notes: string[];
}

const MB = 1024 * 1024;

export function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? null
    : a / b;
}

function row(
  scenario: ScenarioId,
  figure: string,
  unit: string,
  values: { parley: number | null; bare: number | null; coalescing: number | null },
  target = "",
  met: (r: Row) => boolean | null = () => null,
): Row {
  const r: Row = {
    scenario,
    figure,
    unit,
    ...values,
    vsBare: ratio(values.parley, values.bare),
    vsCoalescing: ratio(values.parley, values.coalescing),
    target,
    met: null,
  };
  r.met = r.parley === null ? (target ? false : null) : met(r);
  return r;
}

function pick<K extends RunResult["kind"]>(
  runs: ScenarioResult["runs"],
  target: TargetName,
  kind: K,
  value: (r: Extract<RunResult, { kind: K }>) => number,
): number | null {
  const run = runs[target];
  return run && run.kind === kind ? value(run as Extract<RunResult, { kind: K }>) : null;
}

export function buildRows(scenarios: Results["scenarios"]): Row[] {
  const rows: Row[] = [];
  for (const id of ["a", "b"] as const) {
    const s = scenarios[id];
    if (!s) continue;
    const dps = (t: TargetName) =>
      pick(s.runs, t, "throughput", (r) => r.stalled ? NaN : r.deliveriesPerSecond);
    rows.push(row(
      id,
      "deliveries/s",
      "/s",
      { parley: dps("parley"), bare: dps("bare"), coalescing: dps("coalescing") },
      "≥ 10× bare, ≥ 0.5× coalescing",
      (r) => (r.vsBare ?? 0) >= 10 && (r.vsCoalescing ?? 0) >= 0.5,
    ));
    if (id === "a") {
      const peak = (t: TargetName) => pick(s.runs, t, "throughput", (r) => r.peakRssBytes / MB);
      rows.push(row(
        id,
        "peak RSS",
        "MB",
        { parley: peak("parley"), bare: peak("bare"), coalescing: peak("coalescing") },
        "< 200 MB",
        (r) => r.parley! < 200,
      ));
    }
  }
  const c = scenarios.c;
  if (c) {
    const lat = (t: TargetName, f: (r: LatencyResult) => number) => pick(c.runs, t, "latency", f);
    const values = (f: (r: LatencyResult) => number) => ({
      parley: lat("parley", f),
      bare: lat("bare", f),
      coalescing: lat("coalescing", f),
    });
    rows.push(
      row(
        "c",
        "p50 latency",
        "ms",
        values((r) => r.p50Ms),
        "≤ bare",
        (r) => r.vsBare !== null && r.vsBare <= 1,
      ),
    );
    rows.push(row(
      "c",
      "p99 latency",
      "ms",
      values((r) => r.p99Ms),
      "≤ bare, ≤ 50 ms",
      (r) => r.vsBare !== null && r.vsBare <= 1 && r.parley! <= 50,
    ));
    rows.push(row("c", "max latency", "ms", values((r) => r.maxMs)));
  }
  const d = scenarios.d;
  if (d) {
    const per = (f: (r: IdleResult) => number) => (t: TargetName) =>
      pick(d.runs, t, "idle", (r) => f(r) / 1024);
    const settled = per((r) => r.bytesPerConnection);
    const early = per((r) => r.bytesPerConnectionAfterConnect);
    const idleS = Object.values(d.runs).find((r) => r.kind === "idle")?.idleMs;
    rows.push(row(
      "d",
      `RSS per idle connection (after ${idleS === undefined ? "?" : idleS / 1000} s idle)`,
      "KiB",
      { parley: settled("parley"), bare: settled("bare"), coalescing: settled("coalescing") },
      "≤ 1.2× bare",
      (r) => r.vsBare !== null && r.vsBare <= 1.2,
    ));
    rows.push(row(
      "d",
      "RSS per connection, just after the connect storm",
      "KiB",
      { parley: early("parley"), bare: early("bare"), coalescing: early("coalescing") },
    ));
  }
  const e = scenarios.e?.persistence;
  if (e) {
    const rate = (x: KvWriterResult | { kind: "error" }) => "kind" in x ? null : x.perSecond;
    const grouped = rate(e.grouped);
    const single = rate(e.single);
    const none = { bare: null, coalescing: null };
    rows.push(row("e", "KV commits/s, grouped", "msg/s", { parley: grouped, ...none }));
    rows.push(row("e", "KV commits/s, one per message", "msg/s", { parley: single, ...none }));
    rows.push(row(
      "e",
      "grouped ÷ one per message",
      "×",
      { parley: ratio(grouped, single), ...none },
      "≥ 5×",
      (r) => r.parley! >= 5,
    ));
  }
  return rows;
}

export function num(n: number | null, unit = ""): string {
  if (n === null || !Number.isFinite(n)) return "—";
  if (unit === "ms" || unit === "MB" || unit === "KiB" || unit === "×") {
    return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  }
  return fmt(n);
}

export function times(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return "—";
  return `${n >= 10 ? n.toFixed(1) : n.toFixed(2)}×`;
}

export function figuresTable(rows: Row[]): string {
  const lines = [
    "| Scenario | Figure | Unit | Parley | bare | bare-coalescing | Parley ÷ bare | Parley ÷ coalescing | Target | Met |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.scenario}. ${SCENARIO_TITLES[r.scenario]} | ${r.figure} | ${r.unit} | ${
        num(r.parley, r.unit)
      } | ${num(r.bare, r.unit)} | ${num(r.coalescing, r.unit)} | ${times(r.vsBare)} | ${
        times(r.vsCoalescing)
      } | ${r.target || "—"} | ${r.met === null ? "—" : r.met ? "yes" : "**no**"} |`,
    );
  }
  return lines.join("\n");
}

export const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

/** Thread names as Linux shows them, put plainly; "sw-0" is the Deno KV (SQLite) thread. */
const THREAD_NAMES: Record<string, string> = {
  "deno (main)": "main",
  "sw-0": "KV",
  "V8 DefaultWorke": "V8 workers",
  "tokio-runtime-w": "tokio",
};

export function threads(shares: Record<string, number>): string {
  const top = Object.entries(shares).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]);
  return top.map(([name, v]) => `${THREAD_NAMES[name] ?? name} ${pct(v)}`).join(", ") || "—";
}

export function runsTable(scenarios: Results["scenarios"]): string {
  const lines = [
    "| Scenario | Server | Window | Server CPU | by thread | Generator CPU | Other load | Detail |",
    "| --- | --- | ---: | ---: | --- | ---: | ---: | --- |",
  ];
  for (const [id, s] of Object.entries(scenarios) as [ScenarioId, ScenarioResult][]) {
    if (s.skipped) {
      lines.push(
        `| ${id}. ${SCENARIO_TITLES[id]} | — | — | — | — | — | — | skipped: ${s.skipped} |`,
      );
    }
    const runs: [string, RunResult][] = [
      ...(Object.entries(s.runs) as [TargetName, RunResult][])
        .map(([t, r]): [string, RunResult] => [TARGET_LABELS[t], r]),
      ...(Object.entries(s.topologies ?? {}) as [Topology, RunResult][])
        .map(([t, r]): [string, RunResult] => [TOPOLOGY_LABELS[t], r]),
    ];
    for (const [server, run] of runs) {
      const label = `${id}. ${SCENARIO_TITLES[id]} | ${server}`;
      if (run.kind === "error") {
        lines.push(`| ${label} | — | — | — | — | — | failed: ${run.error.split("\n")[0]} |`);
        continue;
      }
      const window = run.kind === "idle" ? run.setupMs : run.wallMs;
      let detail = "";
      if (run.kind === "throughput") {
        detail = `${run.rounds} rounds of ${run.clients}×${run.batch}, ${
          fmt(run.messagesPerSecond)
        } msg/s, acked ${
          fmt(run.ackedPerSecond)
        }/s, rate-limited replies ${run.rateLimited}, errors ${run.errors}${
          run.stalled ? ", **stalled**" : ""
        }`;
      } else if (run.kind === "latency") {
        detail = `${fmt(run.sendRate)} sends/s, ${run.samples} samples, missing ${run.missing}, ` +
          `errors ${run.errors}`;
      } else {
        detail = `RSS ${(run.rssBeforeBytes / MB).toFixed(1)} → ${
          (run.rssAfterConnectBytes / MB).toFixed(1)
        } MB after connecting → ${(run.rssAfterBytes / MB).toFixed(1)} MB after ${
          run.idleMs / 1000
        } s idle, for ${run.connections} connections (CPU over the connect phase)`;
      }
      if (run.cpu.perServer) {
        detail += `; Parley A ${pct(run.cpu.perServer[0] ?? 0)}, B ${
          pct(run.cpu.perServer[1] ?? 0)
        }`;
      }
      for (const [name, share] of Object.entries(run.cpu.engineParts ?? {})) {
        detail += `; ${name} ${pct(share)}`;
      }
      lines.push(
        `| ${label} | ${(window / 1000).toFixed(1)} s | ${pct(run.cpu.server)} | ${
          threads(run.cpu.serverThreads)
        } | ${pct(run.cpu.generator)} | ${pct(run.cpu.others)} | ${detail} |`,
      );
    }
    for (const [mode, run] of Object.entries(s.persistence ?? {})) {
      const label = `${id}. ${SCENARIO_TITLES[id]} | KvStore, ${
        mode === "grouped" ? "group commit" : "one commit per message"
      }`;
      if ("kind" in run) {
        lines.push(`| ${label} | — | — | — | — | — | failed: ${run.error.split("\n")[0]} |`);
      } else {
        lines.push(
          `| ${label} | ${(run.elapsedMs / 1000).toFixed(1)} s | ${pct(run.cpuShare)} | ${
            threads(run.threads)
          } | — | — | ${run.senders} senders over ${run.rooms} rooms, ${run.committed} messages in ${run.commits} commits |`,
        );
      }
    }
  }
  return lines.join("\n");
}

/** The whole report; `sections` (markdown, e.g. f and g's table) go after the figures. */
export function markdown(results: Results, sections: string[] = []): string {
  const m = results.machine;
  const gib = (m.memoryBytes / 1024 ** 3).toFixed(1);
  const sizes = Object.entries(results.scenarios).map(([id, s]) =>
    `${id}: ${Object.entries(s.sizes).map(([k, v]) => `${k} ${v}`).join(", ")}`
  );
  return [
    "# Parley benchmark: latest run",
    "",
    "Written by `deno task bench` (bench/main.ts); bench/README.md explains the method.",
    "",
    `- Run: ${results.startedAt} to ${results.finishedAt}`,
    `- Command: \`${results.command}\``,
    `- Code: ${results.revision}`,
    `- Machine: ${m.nproc} cores (${m.cpuModel}), ${gib} GiB, ${m.os}`,
    `- Deno ${m.deno} (V8 ${m.v8})`,
    `- Pinning: ${
      results.pinned
        ? "server on core 0, load generator on core 1 (taskset)" +
          (results.scenarios.f || results.scenarios.g
            ? "; in f and g every Parley process, redis-server and PostgreSQL on core 0"
            : "")
        : "none (taskset missing or one core)"
    }`,
    `- Window per run: ${results.durationS} s after ${results.warmupS} s of warm-up${
      results.smoke ? " (smoke sizes: not figures to quote)" : ""
    }`,
    `- Sizes: ${sizes.join("; ")}`,
    "",
    ...(results.rows.length
      ? [
        "## Figures",
        "",
        "Ratios are Parley ÷ baseline: above 1 is better for throughput, below 1 is better for",
        "latency and memory.",
        "",
        figuresTable(results.rows),
        "",
      ]
      : []),
    ...sections.flatMap((section) => [section, ""]),
    "## Runs",
    "",
    "CPU is utime + stime from /proc over the measured window, as a share of one core. Other load",
    "is the rest of the machine's busy time (/proc/stat) meanwhile: above ~10%, distrust the run.",
    "",
    runsTable(results.scenarios),
    "",
    ...(results.notes.length ? ["## Notes", "", ...results.notes.map((n) => `- ${n}`), ""] : []),
  ].join("\n");
}
