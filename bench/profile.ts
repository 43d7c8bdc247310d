/**
 * `deno task bench --profile [--scenario b,c]`: where a message's time goes, by stage.
 *
 * Parley runs as in scenarios b and c (same flags, same load, pinned the same way), but with
 * `--inspect` on 127.0.0.1; over the inspector this takes, inside the scenario's measured
 * window, a V8 CPU profile (`Profiler.start`/`stop`) of `--duration` seconds, then a sampling
 * heap profile (every allocation, collected or not) of a few seconds. Parley's
 * `parley_messages_committed_total` (/metrics) is read at both edges of each window, so
 * time and bytes are per inbound message. Each sample's self time goes to the stage of the
 * first frame, walking from the leaf up, that `STAGE_RULES` maps; `/proc` gives the KV
 * thread's and V8's worker threads' CPU over the same window.
 *
 * The result is printed and written into RESULTS.md as its own section (kept by full runs).
 */
import { V8_FLAGS } from "../server/config.ts";
import { randomSecret } from "./client.ts";
import { threadMeter } from "./proc.ts";
import { Progress } from "./progress.ts";
import { type Context, latency, saturate } from "./scenarios.ts";
import { freePort, parleyArgs, ROOT, type Stoppers } from "./targets.ts";

export const PROFILE_HEADING = "## Where a message's time goes";

/** The stages, in the order of a message's path through the server. */
export const STAGES = [
  "receive + decode",
  "rate-limit",
  "authorize",
  "command glue",
  "commit (main thread)",
  "serialize",
  "fan-out",
  "ack",
  "socket send",
  "timers + event loop",
  "GC (main thread)",
  "other",
  // With an inspector attached, Deno reports every WebSocket frame to it (Network domain):
  // cost of the profile itself, left out of every total.
  "inspector (profiling only)",
] as const;
export type Stage = (typeof STAGES)[number];
const COUNTED = STAGES.filter((s) => s !== "inspector (profiling only)");

interface Rule {
  stage: Stage;
  /** Matched against the frame's URL (file://…/server/x.ts, ext:deno_websocket/…, ""). */
  url: RegExp;
  /** Matched against the function name; any when absent. */
  fn?: RegExp;
  /** Only when no frame of the stack matches a rule without this (Deno's core plumbing). */
  fallback?: true;
}

/**
 * Stage of a frame, first matching rule wins; a frame no rule matches is transparent (its
 * caller decides). Native frames (JSON.stringify, ops) have no URL of their own and so go
 * to their JS caller's stage: JSON.stringify under Fanout.committed is serialize, under
 * Session#reply it is ack.
 */
export const STAGE_RULES: Rule[] = [
  { stage: "inspector (profiling only)", url: /inspector_network_bridge\.js$/ },
  { stage: "GC (main thread)", url: /^$/, fn: /^\(garbage collector\)$/ },
  // Receive: Deno's WebSocket event loop and event dispatch, Parley's onmessage, decoding.
  { stage: "socket send", url: /ext:deno_websocket\//, fn: /^(send|_queueSend|sendSync)$/ },
  { stage: "receive + decode", url: /ext:deno_websocket\// },
  { stage: "receive + decode", url: /ext:deno_web\/02_event\.js/ },
  { stage: "receive + decode", url: /\/protocol\/(codec|schema|limits|messages)\.ts$/ },
  { stage: "receive + decode", url: /\/server\/session\.ts$/, fn: /^receive$/ },
  { stage: "receive + decode", url: /\/server\/http\.ts$/, fn: /^socket\.onmessage$|^$/ },
  { stage: "receive + decode", url: /\/npm\/.*zod|zod@/ },
  // Per-connection and per-user token buckets.
  { stage: "rate-limit", url: /\/server\/rate\// },
  { stage: "rate-limit", url: /\/server\/commands\/shared\.ts$/, fn: /^limit$/ },
  // Who may send where.
  {
    stage: "authorize",
    url: /\/server\/commands\/shared\.ts$/,
    fn: /^(authorize\w*|#permit|#refuseDisabled|refuseMuted)$/,
  },
  { stage: "authorize", url: /\/server\/access\.ts$|\/protocol\/permissions\.ts$/ },
  // The append: group commit, KV rows (chunks, nonces, search index), Deno KV's JS side.
  { stage: "commit (main thread)", url: /\/server\/store\// },
  { stage: "commit (main thread)", url: /ext:deno_kv\// },
  // One JSON string per committed message, then per recipient queueing in seq order.
  { stage: "serialize", url: /\/server\/fanout\.ts$/, fn: /^committed$/ },
  { stage: "serialize", url: /\/protocol\/frames\.ts$/ },
  { stage: "fan-out", url: /\/server\/(fanout|sequencer|hub)\.ts$|\/server\/bus\// },
  // The sender's reply (after commit), and answering the request.
  { stage: "ack", url: /\/server\/session\.ts$/, fn: /^(#reply|#replyError|#answered|#fail)$/ },
  // Coalesced writes: one microtask flushes every connection, one send() each.
  { stage: "socket send", url: /\/server\/flush_scheduler\.ts$/ },
  { stage: "socket send", url: /\/server\/ws_connection\.ts$/, fn: /^(flush|#write)$/ },
  // The rest of the send path: Session#send, Hub.send, TimelineCommands.send/#append.
  { stage: "command glue", url: /\/server\/(session|commands\/timeline|commands\/shared)\.ts$/ },
  // Deno's op and promise plumbing (ext:core) runs under everything: it counts for whoever
  // called it, and only on its own (the event loop tick, timers) as this.
  { stage: "timers + event loop", url: /ext:(core|deno_web)\//, fallback: true },
];

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber?: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: HeapNode[];
}

/** The stage of `frame`, or null when no rule matches it. */
export function stageOf(frame: CallFrame, fallback = false): Stage | null {
  for (const rule of STAGE_RULES) {
    if (!!rule.fallback !== fallback) continue;
    if (rule.url.test(frame.url) && (!rule.fn || rule.fn.test(frame.functionName))) {
      return rule.stage;
    }
  }
  return null;
}

/** Walks `stack` (leaf first) to the first frame with a stage; "other" when none has. */
function stageOfStack(stack: CallFrame[]): Stage {
  for (const fallback of [false, true]) {
    for (const frame of stack) {
      const stage = stageOf(frame, fallback);
      if (stage) return stage;
    }
  }
  return "other";
}

const frameName = (f: CallFrame) =>
  `${f.functionName || "(anonymous)"} ${f.url.replace(/^file:\/\/.*?\/(server|protocol)\//, "$1/")}`
    .trim();

export interface StageTimes {
  /** µs of main-thread self time by stage, over the window. */
  us: Record<Stage, number>;
  idleUs: number;
  /** (program): native code outside JS that V8 cannot attribute (ops, the event loop). */
  programUs: number;
  samples: number;
  /** Where "other" went, by leaf frame, top first. */
  otherTop: [string, number][];
}

export function cpuStages(profile: CpuProfile): StageTimes {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Stage>();
  const stageFor = (id: number): Stage => {
    let stage = memo.get(id);
    if (stage) return stage;
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      stack.push(byId.get(at)!.callFrame);
    }
    stage = stageOfStack(stack);
    memo.set(id, stage);
    return stage;
  };
  const us = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  const other = new Map<string, number>();
  let idleUs = 0;
  let programUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // A sample's delta is the time until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const name = byId.get(id)!.callFrame.functionName;
    if (name === "(idle)") idleUs += dt;
    else if (name === "(program)") programUs += dt;
    else {
      const stage = stageFor(id);
      us[stage] += dt;
      if (stage === "other") {
        const leaf = frameName(byId.get(id)!.callFrame);
        other.set(leaf, (other.get(leaf) ?? 0) + dt);
      }
    }
  }
  return {
    us,
    idleUs,
    programUs,
    samples: profile.samples.length,
    otherTop: [...other].sort((a, b) => b[1] - a[1]).slice(0, 8),
  };
}

/** Bytes allocated by stage (every sampled allocation, collected or not). */
export function heapStages(head: HeapNode): Record<Stage, number> {
  const bytes = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  const walk = (node: HeapNode, stack: CallFrame[]) => {
    const here = [node.callFrame, ...stack];
    if (node.selfSize > 0) bytes[stageOfStack(here)] += node.selfSize;
    for (const child of node.children) walk(child, here);
  };
  walk(head, []);
  return bytes;
}

/** A Chrome DevTools Protocol session over the inspector's WebSocket. */
class Inspector {
  #next = 1;
  readonly #waiting = new Map<number, (m: { result?: unknown; error?: unknown }) => void>();
  private constructor(private readonly socket: WebSocket) {
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data as string);
      const done = this.#waiting.get(m.id);
      if (done) {
        this.#waiting.delete(m.id);
        done(m);
      }
    };
  }

  static async open(port: number): Promise<Inspector> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        const socket = new WebSocket(list[0].webSocketDebuggerUrl);
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = reject;
        });
        return new Inspector(socket);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, (m) => {
        if (m.error) reject(new Error(`${method}: ${JSON.stringify(m.error)}`));
        else resolve(m.result as T);
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

async function committed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(/^parley_messages_committed_total (\d+)/m);
  if (!m) throw new Error("no parley_messages_committed_total in /metrics");
  return Number(m[1]);
}

/** Calls `onWindow` once the scenario reports its measured window (not warm-up). */
class WindowProgress extends Progress {
  #fired = false;
  constructor(private readonly onWindow: () => void) {
    super();
  }
  override update(text: string): void {
    // b's and c's window reports read "<seconds>/<duration> s, …"; set-up and warm-up do not.
    if (!this.#fired && /^\d+(\.\d+)?\/\d+(\.\d+)? s\b/.test(text)) {
      this.#fired = true;
      this.onWindow();
    }
    super.update(text);
  }
}

export interface ProfileRun {
  scenario: "b" | "c";
  messages: number;
  windowMs: number;
  cpu: StageTimes;
  /** /proc over the CPU window, ms by thread name. */
  threadsMs: Record<string, number>;
  heap?: { messages: number; windowMs: number; bytes: Record<Stage, number> };
  error?: string;
}

export interface ProfilePlan {
  scenarios: ("b" | "c")[];
  cpuMs: number;
  heapMs: number;
  intervalUs: number;
  pin: boolean;
  sizes: {
    b: { clients: number; rooms: number; batch: number };
    c: { clients: number; rooms: number; ratePerClient: number };
  };
  parleyArgs: string[];
  /** Keep the raw .cpuprofile / .heapprofile here. */
  outDir?: string;
}

async function profileOne(
  id: "b" | "c",
  p: ProfilePlan,
  progress: Progress,
  stoppers: Stoppers,
): Promise<ProfileRun> {
  const port = await freePort();
  const inspectPort = await freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "parley-profile-" });
  const jwtSecret = randomSecret();
  const deno = [
    "run",
    "-A",
    "--unstable-kv",
    `--v8-flags=${V8_FLAGS.join(",")}`,
    `--inspect=127.0.0.1:${inspectPort}`,
    new URL("server.ts", ROOT).pathname,
    "--port",
    String(port),
    "--hostname",
    "127.0.0.1",
    ...parleyArgs(dataDir, jwtSecret),
    ...p.parleyArgs,
  ];
  const child = new Deno.Command(p.pin ? "taskset" : Deno.execPath(), {
    args: p.pin ? ["-c", "0", Deno.execPath(), ...deno] : deno,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    await child.status;
    clearTimeout(timer);
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  const untrack = stoppers.add(stop);
  const url = `http://127.0.0.1:${port}`;
  let inspector: Inspector | undefined;
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`${url}/healthz`);
        await r.body?.cancel();
        if (r.ok) break;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error("Parley was not ready within 60 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    const session = inspector = await Inspector.open(inspectPort);
    await session.call("Profiler.enable");
    await session.call("Profiler.setSamplingInterval", { interval: p.intervalUs });
    await session.call("HeapProfiler.enable");

    let result: Promise<ProfileRun> | undefined;
    const windows = () => {
      result = (async () => {
        const threads = threadMeter(child.pid);
        const m0 = await committed(url);
        const t0 = performance.now();
        await session.call("Profiler.start");
        ctx.progress.update(`CPU profile for ${p.cpuMs / 1000} s`);
        await new Promise((r) => setTimeout(r, p.cpuMs));
        const { profile } = await session.call<{ profile: CpuProfile }>("Profiler.stop");
        const windowMs = performance.now() - t0;
        const messages = (await committed(url)) - m0;
        const shares = threads();
        const threadsMs = Object.fromEntries(
          Object.entries(shares).map(([name, share]) => [name, share * windowMs]),
        );
        const run: ProfileRun = {
          scenario: id,
          messages,
          windowMs,
          cpu: cpuStages(profile),
          threadsMs,
        };
        if (p.outDir) {
          await Deno.mkdir(p.outDir, { recursive: true });
          await Deno.writeTextFile(`${p.outDir}/${id}.cpuprofile`, JSON.stringify(profile));
        }
        if (p.heapMs > 0) {
          const h0 = await committed(url);
          const t1 = performance.now();
          await session.call("HeapProfiler.startSampling", {
            samplingInterval: 16384,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          });
          await new Promise((r) => setTimeout(r, p.heapMs));
          const { profile: heap } = await session.call<{ profile: { head: HeapNode } }>(
            "HeapProfiler.stopSampling",
          );
          run.heap = {
            messages: (await committed(url)) - h0,
            windowMs: performance.now() - t1,
            bytes: heapStages(heap.head),
          };
          if (p.outDir) {
            await Deno.writeTextFile(`${p.outDir}/${id}.heapprofile`, JSON.stringify(heap));
          }
        }
        return run;
      })();
    };
    const ctx: Context = {
      endpoint: { url, wsUrl: `ws://127.0.0.1:${port}/ws`, jwtSecret },
      pid: child.pid,
      label: `${id}/parley`,
      // Room for both windows after the scenario's window begins, plus reading them out.
      durationMs: p.cpuMs + p.heapMs + 4000,
      warmupMs: 2000,
      settleMs: 0,
      idleMs: 0,
      progress: new WindowProgress(windows),
    };
    ctx.progress.start(`${id}. profile`);
    const scenario = id === "b" ? saturate(ctx, p.sizes.b) : latency(ctx, p.sizes.c);
    const outcome = await scenario;
    if (!result) throw new Error("the scenario never reported its measured window");
    const run = await result;
    ctx.progress.done(
      `${run.messages} messages in ${(run.windowMs / 1000).toFixed(1)} s profiled` +
        (outcome.kind === "throughput" && outcome.stalled ? " (STALLED)" : ""),
    );
    return run;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.note(`${id}. profile: FAILED: ${message}`);
    return {
      scenario: id,
      messages: 0,
      windowMs: 0,
      cpu: { us: {} as Record<Stage, number>, idleUs: 0, programUs: 0, samples: 0, otherTop: [] },
      threadsMs: {},
      error: message,
    };
  } finally {
    inspector?.close();
    await stop();
    untrack();
  }
}

const perMsg = (us: number, messages: number) => messages > 0 ? us / messages : 0;
const f1 = (x: number) => x.toFixed(1);

/** main thread, KV, V8 workers, other threads: ms over the window from /proc. */
function threadGroups(threadsMs: Record<string, number>) {
  let main = 0, kv = 0, v8 = 0, rest = 0;
  for (const [name, ms] of Object.entries(threadsMs)) {
    if (name.endsWith("(main)")) main += ms;
    else if (/^sw-/.test(name)) kv += ms;
    else if (/V8|v8/.test(name)) v8 += ms;
    else rest += ms;
  }
  return { main, kv, v8, rest };
}

export function profileMarkdown(runs: ProfileRun[], command: string, revision: string): string {
  const ok = runs.filter((r) => !r.error);
  const head = ["Stage", ...ok.flatMap((r) => [`${r.scenario} µs/msg`, `${r.scenario} %`])];
  const rows: string[][] = [];
  const busy = (r: ProfileRun) =>
    COUNTED.reduce((s, st) => s + (r.cpu.us[st] ?? 0), 0) + r.cpu.programUs;
  for (const stage of COUNTED) {
    rows.push([
      stage,
      ...ok.flatMap((r) => [
        f1(perMsg(r.cpu.us[stage], r.messages)),
        `${(r.cpu.us[stage] / busy(r) * 100).toFixed(0)}%`,
      ]),
    ]);
  }
  rows.push([
    "(program): native, unattributed",
    ...ok.flatMap((r) => [
      f1(perMsg(r.cpu.programUs, r.messages)),
      `${(r.cpu.programUs / busy(r) * 100).toFixed(0)}%`,
    ]),
  ]);
  rows.push([
    "**main thread, profiled (sum)**",
    ...ok.flatMap((r) => [`**${f1(perMsg(busy(r), r.messages))}**`, "100%"]),
  ]);
  rows.push([
    "inspector (profiling only, not counted)",
    ...ok.flatMap((r) => [f1(perMsg(r.cpu.us["inspector (profiling only)"], r.messages)), ""]),
  ]);
  const proc = (label: string, pick: (g: ReturnType<typeof threadGroups>) => number) =>
    rows.push([
      label,
      ...ok.flatMap((r) => [f1(perMsg(pick(threadGroups(r.threadsMs)) * 1000, r.messages)), ""]),
    ]);
  proc("main thread, /proc (user + sys)", (g) => g.main);
  proc("KV thread (sw-0), /proc", (g) => g.kv);
  proc("V8 workers (parallel GC, compiler), /proc", (g) => g.v8);
  proc("other threads (tokio), /proc", (g) => g.rest);
  proc("**process total, /proc**", (g) => g.main + g.kv + g.v8 + g.rest);
  const table = [head, head.map((_, i) => (i === 0 ? "---" : "---:")), ...rows]
    .map((r) => `| ${r.join(" | ")} |`).join("\n");

  const heads = ok.filter((r) => r.heap && r.heap.messages > 0);
  let heap = "";
  if (heads.length) {
    const hh = ["Stage", ...heads.map((r) => `${r.scenario} bytes/msg`)];
    const hr = COUNTED.map((stage) => [
      stage,
      ...heads.map((r) => (r.heap!.bytes[stage] / r.heap!.messages).toFixed(0)),
    ]);
    hr.push([
      "inspector (profiling only, not counted)",
      ...heads.map((r) =>
        (r.heap!.bytes["inspector (profiling only)"] / r.heap!.messages).toFixed(0)
      ),
    ]);
    hr.push([
      "**total**",
      ...heads.map((r) =>
        `**${(COUNTED.reduce((a, st) => a + r.heap!.bytes[st], 0) / r.heap!.messages).toFixed(0)}**`
      ),
    ]);
    heap = "\n\nAllocation (sampling heap profiler, every 16 KiB, objects collected since " +
      "included), bytes allocated per inbound message:\n\n" +
      [hh, hh.map((_, i) => (i === 0 ? "---" : "---:")), ...hr]
        .map((r) => `| ${r.join(" | ")} |`).join("\n");
  }
  const windows = ok.map((r) =>
    `${r.scenario}: ${r.messages} messages committed in ${(r.windowMs / 1000).toFixed(1)} s (${
      Math.round(r.messages / (r.windowMs / 1000))
    } msg/s), ${r.cpu.samples} samples` +
    (r.heap
      ? `; heap window ${r.heap.messages} messages in ${(r.heap.windowMs / 1000).toFixed(1)} s`
      : "")
  );
  const others = ok.map((r) =>
    `${r.scenario}: ${
      r.cpu.otherTop.slice(0, 5).map(([n, us]) => `${n} ${f1(perMsg(us, r.messages))}`).join(", ")
    }`
  );
  const failed = runs.filter((r) => r.error).map((r) => `${r.scenario} failed: ${r.error}`);
  return [
    PROFILE_HEADING,
    "",
    `Written by \`${command}\` (bench/profile.ts) at ${revision}, ${new Date().toISOString()}. ` +
    "Main-thread self time from a V8 CPU profile taken over the inspector inside the " +
    "scenario's measured window, per message committed in that window (/metrics); a " +
    "sample goes to the first frame from its leaf up that `STAGE_RULES` in bench/profile.ts " +
    "maps (native frames such as JSON.stringify and ops go to their caller's stage). " +
    "Idle time is left out; the /proc rows are the same window.",
    "",
    table + heap,
    "",
    ...windows.map((w) => `- ${w}`),
    `- Largest leaves in "other", µs/msg: ${others.join("; ")}`,
    ...failed.map((f) => `- ${f}`),
    "",
  ].join("\n");
}

export async function runProfiles(
  p: ProfilePlan,
  progress: Progress,
  stoppers: Stoppers,
): Promise<ProfileRun[]> {
  const runs: ProfileRun[] = [];
  for (const id of p.scenarios) runs.push(await profileOne(id, p, progress, stoppers));
  return runs;
}
