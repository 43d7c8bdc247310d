/**
 * Summarize a V8 .cpuprofile (from `deno run --cpu-prof`, or `deno task bench --cpu-prof DIR`):
 * the functions with the most self time, and self time grouped by source file.
 *
 *   deno run -A bench/profile_summary.ts DIR/or/file.cpuprofile [--top 25] [--from s] [--to s]
 *
 * --from/--to keep only samples that many seconds after the profile's start (to leave out
 * start-up, connection set-up and shutdown).
 */
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Summary {
  totalMs: number;
  idleMs: number;
  functions: { name: string; where: string; selfMs: number; share: number }[];
  files: { file: string; selfMs: number; share: number }[];
}

export function summarize(profile: Profile, top = 25, fromS = 0, toS = Infinity): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let at = 0; // µs since the profile's start
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromS * 1e6 || at > toS * 1e6) continue;
    // A sample's delta is the time until the next one; the last has none.
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const functions = new Map<string, { name: string; where: string; selfMs: number }>();
  const files = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    totalMs += ms;
    if (frame.functionName === "(idle)") {
      // Reported on its own: shares are of the time the JS thread was busy.
      idleMs += ms;
      continue;
    }
    const file = shortUrl(frame.url) || `(${frame.functionName || "native"})`;
    const where = frame.url ? `${file}:${frame.lineNumber + 1}` : "";
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ??
      { name: frame.functionName || "(anonymous)", where, selfMs: 0 };
    entry.selfMs += ms;
    functions.set(key, entry);
    files.set(file, (files.get(file) ?? 0) + ms);
  }
  const busy = totalMs - idleMs || 1;
  return {
    totalMs,
    idleMs,
    functions: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)
      .map((f) => ({ ...f, share: f.selfMs / busy })),
    files: [...files].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([file, selfMs]) => ({ file, selfMs, share: selfMs / busy })),
  };
}

function shortUrl(url: string): string {
  if (!url) return "";
  const npm = url.match(/node_modules\/\.deno\/([^/]+)\/node_modules\/(.*)$/) ??
    url.match(/registry\.npmjs\.org\/([^/]+\/[^/]+)\/(.*)$/);
  if (npm) return `npm:${npm[1]}/${npm[2]}`;
  const local = url.indexOf("/work/");
  return url.startsWith("file://") && local >= 0
    ? url.slice(url.indexOf("/", local + 6) + 1)
    : url.replace(/^ext:/, "ext:");
}

export function format(s: Summary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `total ${(s.totalMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s; ` +
    "shares are of busy time",
    "",
    "self time by function:",
    ...s.functions.map((f) =>
      `  ${pct(f.share).padStart(6)}  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`
    ),
    "",
    "self time by file:",
    ...s.files.map((f) =>
      `  ${pct(f.share).padStart(6)}  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.file}`
    ),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      top: { type: "string", default: "25" },
      from: { type: "string", default: "0" },
      to: { type: "string", default: "Infinity" },
    },
    allowPositionals: true,
  });
  const paths: string[] = [];
  for (const arg of positionals) {
    if (Deno.statSync(arg).isDirectory) {
      for (const e of Deno.readDirSync(arg)) {
        if (e.name.endsWith(".cpuprofile")) paths.push(`${arg}/${e.name}`);
      }
    } else paths.push(arg);
  }
  for (const path of paths.sort()) {
    const profile = JSON.parse(Deno.readTextFileSync(path)) as Profile;
    console.log(
      `== ${path}\n${
        format(summarize(profile, Number(values.top), Number(values.from), Number(values.to)))
      }\n`,
    );
  }
}
