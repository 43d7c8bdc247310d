/**
 * `deno task bench --scenario startup`: milliseconds from spawning a server to its first
 * `200` on `GET /`, median of several runs, for the single-file bundle (`deno task build`,
 * run with `deno run -A` from a fresh empty directory), `server.ts` run from the repository
 * (`deno run -A server.ts`, a fresh data directory), and a bare `Deno.serve` hello-world
 * started the same way. Also runnable alone: `deno run -A bench/startup.ts [--runs 7]`.
 */
import { build } from "../scripts/build.ts";
import { Progress } from "./progress.ts";
import { ROOT, Stoppers } from "./targets.ts";
import { V8_FLAGS } from "../server/config.ts";

export const STARTUP_HEADING = "## Start-up";

export type StartupTarget = "bundle" | "flagged" | "server" | "bare";

const ORDER: StartupTarget[] = ["bundle", "flagged", "server", "bare"];

export const STARTUP_LABELS: Record<StartupTarget, string> = {
  bundle: "single file: `deno run -A parley.js`, a copy outside the repository",
  flagged: "the same, with its flags: `deno run -A --unstable-kv --v8-flags=… parley.js`",
  server: "`deno run -A server.ts` (from the repository)",
  bare: "bare `Deno.serve` hello-world: `deno run -A hello.ts`",
};

export interface StartupFigures {
  /** Milliseconds from spawn to the first 200, one per run, in run order. */
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export interface StartupResults {
  runs: number;
  targets: Partial<Record<StartupTarget, StartupFigures | { error: string }>>;
}

/** A server must answer within this, or the run fails. */
const DEADLINE_MS = 20_000;
/** Between polls of `GET /`. */
const POLL_MS = 2;

const HELLO = `Deno.serve({
  port: Number(Deno.args[Deno.args.indexOf("--port") + 1]),
  hostname: "127.0.0.1",
  onListen() {},
}, () => new Response("hello"));
`;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The process ids below `pid` (the bundle's relaunch is a child), from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      const child = Number(entry.name);
      if (!Number.isInteger(child)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${child}/stat`);
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        parents.set(ppid, [...(parents.get(ppid) ?? []), child]);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return [];
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Is `GET url` a 200 yet? */
async function answered(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** One launch: ms from spawn to the first 200 on `GET /`; every process stopped after. */
export async function timeStart(
  args: string[],
  cwd: string,
  stoppers: Stoppers,
): Promise<number> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}/`;
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, "--port", String(port)],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const drained = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (log = (log + chunk).slice(-4000)) }),
  ).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    const tree = descendants(child.pid);
    kill(child.pid, "SIGTERM");
    for (const pid of tree) kill(pid, "SIGTERM");
    const timer = setTimeout(() => {
      kill(child.pid, "SIGKILL");
      for (const pid of tree) kill(pid, "SIGKILL");
    }, 3000);
    await status;
    clearTimeout(timer);
    // A relaunched child outliving its parent would hold the port: make sure it is gone.
    for (const pid of tree) kill(pid, "SIGKILL");
    await drained;
  };
  const untrack = stoppers.add(stop);
  try {
    while (!(await answered(url))) {
      if (exited) throw new Error(`exited before answering:\n${log}`);
      if (performance.now() - started > DEADLINE_MS) {
        throw new Error(`no 200 on / within ${DEADLINE_MS} ms:\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return performance.now() - started;
  } finally {
    untrack();
    await stop();
  }
}

/** Build the bundle, then time `runs` starts of each target, interleaved. */
export async function startupScenario(
  runs: number,
  progress: Progress,
  stoppers: Stoppers,
  targets: StartupTarget[] = ["bare", "bundle", "flagged", "server"],
): Promise<StartupResults> {
  progress.start("startup");
  progress.update("deno task build");
  const bundle = await build();
  const work = await Deno.makeTempDir({ prefix: "parley-bench-startup-" });
  try {
    const hello = `${work}/hello.ts`;
    await Deno.writeTextFile(hello, HELLO);
    // Run from dist/, the bundle would find the repository's deno.json (Deno looks beside
    // and above the file), get --unstable-kv from it and skip the relaunch a user's copy
    // makes: time a copy out here instead, as a user runs it.
    const single = `${work}/parley.js`;
    await Deno.copyFile(bundle, single);
    // A copy of its own: V8 keeps one code cache per file and flags, and a user runs the
    // bundle one way, not alternately with and without flags.
    const flaggedCopy = `${work}/flagged.js`;
    await Deno.copyFile(bundle, flaggedCopy);
    const server = new URL("server.ts", ROOT).pathname;
    const times: Record<StartupTarget, number[]> = {
      bundle: [],
      flagged: [],
      server: [],
      bare: [],
    };
    // What the relaunch would add, given up front: no second process.
    const flags = ["--unstable-kv", `--v8-flags=${V8_FLAGS.join(",")}`];
    const errors: Partial<Record<StartupTarget, string>> = {};
    // One unmeasured start each, so every target runs with Deno's caches warm.
    for (let run = -1; run < runs; run++) {
      for (const target of targets) {
        if (errors[target]) continue;
        const dir = await Deno.makeTempDir({ dir: work });
        progress.update(`run ${run + 1}/${runs}: ${target}`);
        try {
          const ms = target === "bundle"
            ? await timeStart(["run", "-A", single], dir, stoppers)
            : target === "flagged"
            ? await timeStart(["run", "-A", ...flags, flaggedCopy], dir, stoppers)
            : target === "server"
            ? await timeStart(
              ["run", "-A", server, "--hostname", "127.0.0.1", "--data", `${dir}/data`],
              ROOT.pathname,
              stoppers,
            )
            : await timeStart(["run", "-A", hello], dir, stoppers);
          if (run >= 0) times[target].push(ms);
        } catch (error) {
          errors[target] = error instanceof Error ? error.message : String(error);
        }
      }
    }
    const result: StartupResults = { runs, targets: {} };
    for (const target of targets) {
      const ms = times[target];
      result.targets[target] = errors[target] ? { error: errors[target]! } : {
        runsMs: ms.map((t) => Math.round(t * 10) / 10),
        medianMs: median(ms),
        minMs: Math.min(...ms),
        maxMs: Math.max(...ms),
      };
    }
    const summary = targets.map((t) => {
      const r = result.targets[t]!;
      return "error" in r ? `${t} FAILED` : `${t} ${r.medianMs.toFixed(0)} ms`;
    });
    progress.done(`median of ${runs}: ${summary.join(", ")}`);
    return result;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

const ms = (n: number) => n.toFixed(0);

/** The "Start-up" section of RESULTS.md: medians, spread and ratios to bare. */
export function startupMarkdown(
  results: StartupResults,
  command: string,
  before?: string,
): string {
  const bare = results.targets.bare;
  const bareMs = bare && !("error" in bare) ? bare.medianMs : null;
  const lines = [
    STARTUP_HEADING,
    "",
    `\`${command}\`: milliseconds from spawning \`deno\` to the first \`200\` on \`GET /\` ` +
    `(polled every ${POLL_MS} ms), median of ${results.runs} runs after one unmeasured ` +
    "start each, targets interleaved. Every run starts in a fresh empty directory (the " +
    "bundle's data directory is made there; `server.ts` gets `--data` in it).",
    "",
    "| Server | median ms | min | max | ÷ bare |",
    "| --- | --: | --: | --: | --: |",
  ];
  const notes: string[] = [];
  for (const target of ORDER) {
    const r = results.targets[target];
    if (!r) continue;
    if ("error" in r) {
      notes.push(`- ${target} failed: ${r.error.split("\n")[0]}`);
      lines.push(`| ${STARTUP_LABELS[target]} | failed | | | |`);
      continue;
    }
    const ratio = bareMs ? `${(r.medianMs / bareMs).toFixed(2)}×` : "";
    lines.push(
      `| ${STARTUP_LABELS[target]} | ${ms(r.medianMs)} | ${ms(r.minMs)} | ${
        ms(r.maxMs)
      } | ${ratio} |`,
    );
  }
  lines.push("");
  for (const target of ORDER) {
    const r = results.targets[target];
    if (r && !("error" in r)) notes.push(`- ${target} runs (ms): ${r.runsMs.join(", ")}`);
  }
  lines.push(...notes);
  if (before) lines.push("", before.trim());
  return lines.join("\n") + "\n";
}

/**
 * The hand-written part of a start-up section ("### Before and after" and below), which
 * a new run keeps.
 */
export function startupHistory(section: string | null): string | undefined {
  const at = section?.indexOf("\n### ") ?? -1;
  return at < 0 ? undefined : section!.slice(at + 1);
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--runs");
  const runs = at >= 0 ? Number(Deno.args[at + 1]) : 7;
  const stoppers = new Stoppers();
  const result = await startupScenario(runs, new Progress(), stoppers);
  console.log(startupMarkdown(result, ["deno run -A bench/startup.ts", ...Deno.args].join(" ")));
}
