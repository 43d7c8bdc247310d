/**
 * `deno task build`: writes dist/parley.js, the whole server in one file with the
 * client assets inlined. `deno task compile` then turns it into dist/parley, one
 * executable (this needs the `denort` runtime: set DENORT_BIN where it cannot be downloaded).
 */
import { bundleClient } from "../server/assets.ts";
import { V8_FLAGS } from "../server/config.ts";

const root = new URL("../", import.meta.url);
const dist = new URL("dist/", root);
const gen = new URL("dist/gen/", root);

async function deno(args: string[]): Promise<void> {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new BuildError(`deno ${args[0]} failed (above).`);
}

/**
 * The bundle's entry: the server, run when the bundle is the main module. The bundler folds
 * import.meta.main to false outside the entry, so the entry runs main.
 */
const ENTRY = `import "./embedded.ts";
import server, { main, runByDenoServe } from "../../server.ts";
export default server;
if (import.meta.main && !runByDenoServe()) Deno.exit(await main(Deno.args));
`;

/**
 * What the bundle does before anything else. Deno KV is still behind --unstable-kv, and a
 * bundle run from an empty directory has no deno.json to turn it on: then it runs the same
 * file again with the flag (and V8_FLAGS), passes signals on, and exits with its code.
 * `deno serve` marks the module main too, and is left alone. Plain JavaScript: it goes in
 * front of the bundler's output, ahead of every import. The second run names the file with a
 * fragment: V8 rejects a code cache made under other V8 flags, so under one name the two runs
 * would overwrite each other's cache and compile the whole bundle afresh on every start.
 */
export const PRELUDE = `if (import.meta.main && typeof Deno.openKv !== "function" && !(() => {
  try {
    const path = "/proc/self/cmdline";
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return false;
    return Deno.readTextFileSync(path).split("\\0").slice(1, 3).includes("serve");
  } catch {
    return false;
  }
})()) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", ${
  JSON.stringify(`--v8-flags=${V8_FLAGS.join(",")}`)
}, new URL("#relaunched", Deno.mainModule).href, ...Deno.args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"]) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  Deno.exit((await child.status).code);
}
`;

/**
 * The bundler hoists Node built-ins as static imports, which Deno loads (its Node layer,
 * about 100 ms of CPU) before the first line runs, relaunch or not. Each becomes a dynamic
 * import after the prelude, in the same order: \`import{a as b,c}from"node:x";\` turns
 * into \`const { a: b, c } = await import("node:x");\`. The static import is blanked with
 * spaces, so every other line and column stays where the source map says it is.
 */
export function deferNodeImports(code: string, prelude: string): Deferred {
  const imports: string[] = [];
  const rest = code.replace(
    /(?<=^|[;}])import\s*(\{[^}]*\}|\*\s*as\s+[\w$]+|[\w$]+)\s*from\s*(["']node:[\w/]+["']);?/gm,
    (statement: string, clause: string, from: string) => {
      const binding = clause.startsWith("*")
        ? clause.replace(/^\*\s*as\s+/, "")
        : clause.startsWith("{")
        ? clause.replace(/([\w$]+) as ([\w$]+)/g, "$1: $2")
        : `{ default: ${clause} }`;
      imports.push(`const ${binding} = await import(${from});`);
      return " ".repeat(statement.length);
    },
  );
  const left = rest.match(/\bimport\b[^;()]*?from\s*["']node:[\w/]+["']/);
  if (left) throw new BuildError(`a Node import was left static: ${left[0]}`);
  const head = `${prelude}${imports.join("\n")}\n`;
  return { code: head + rest, linesAdded: head.split("\n").length - 1 };
}

export interface Deferred {
  code: string;
  /** Lines put in front of the bundler's output. */
  linesAdded: number;
}

/** A source map for code that gained `lines` lines at its top: each ";" is one more line. */
export function shiftSourceMap(map: string, lines: number): string {
  const parsed = JSON.parse(map) as { mappings: string };
  parsed.mappings = ";".repeat(lines) + parsed.mappings;
  return JSON.stringify(parsed);
}

export async function build(): Promise<URL> {
  const assets = await bundleClient(
    new URL("client/main.tsx", root),
    new URL("client/styles.css", root),
  );
  await Deno.mkdir(gen, { recursive: true });
  // Embedding runs before server.ts is evaluated: module evaluation follows import order.
  await Deno.writeTextFile(
    new URL("embedded.ts", gen),
    `import { embedAssets } from "../../server/assets.ts";\nembedAssets(${
      JSON.stringify(assets)
    });\n`,
  );
  await Deno.writeTextFile(new URL("entry.ts", gen), ENTRY);
  const out = new URL("parley.js", dist);
  // Minified, the file is 1.4 MB instead of 2.3 and starts about 80 ms sooner (Deno reads,
  // hashes and compiles all of it twice: before and after the relaunch); names are kept for
  // logs, and parley.js.map beside it maps stack traces back to the sources.
  await deno([
    "bundle",
    "--quiet",
    "--minify",
    "--keep-names",
    "--sourcemap",
    "linked",
    "--platform",
    "deno",
    new URL("entry.ts", gen).pathname,
    "-o",
    out.pathname,
  ]);
  await Deno.remove(gen, { recursive: true });
  const { code, linesAdded } = deferNodeImports(await Deno.readTextFile(out), PRELUDE);
  await Deno.writeTextFile(out, code);
  const map = new URL("parley.js.map", dist);
  await Deno.writeTextFile(map, shiftSourceMap(await Deno.readTextFile(map), linesAdded));
  return out;
}

/** Permissions baked into the executable: network and files, never subprocesses or FFI. */
export const COMPILE_PERMISSIONS = [
  "--unstable-kv",
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
];

/** Where `deno compile` downloads its runtime from, for this Deno and this machine. */
export function denortUrl(): string {
  return `https://dl.deno.land/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
}

/** How to give `deno compile` its runtime where it cannot download it. */
const supplyDenort = (url = denortUrl()) =>
  `set DENORT_BIN to a local denort, unzipped from ${url}`;

/** A failure to report in one line, without a stack trace. */
export class BuildError extends Error {
  override name = "BuildError";
}

/**
 * `deno compile`'s error output as one line: what failed and, when the runtime is what
 * is missing, how to supply it; null when the failure is something else.
 */
export function denortFailure(stderr: string): string | null {
  // deno prints "error: ..." and then "Caused by:" with numbered causes (no colours: NO_COLOR).
  const notFound = stderr.match(/Could not find denort at '([^']*)'/);
  if (notFound) return `DENORT_BIN is ${notFound[1]}, which is not a file; ${supplyDenort()}.`;
  const download = stderr.match(/error sending request for url \((\S+?)\)/);
  if (!download) return null;
  const causes = [...stderr.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1]!.trim());
  const root = causes.filter((c) => c !== "<unknown>").at(-1);
  const why = root ? ` (${root})` : "";
  return `deno compile could not download its runtime${why}; ${supplyDenort(download[1])}.`;
}

/** Fail at once when DENORT_BIN names no file, rather than after a build. */
async function checkDenortBin(): Promise<void> {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort === undefined || await Deno.stat(denort).then((s) => s.isFile, () => false)) return;
  throw new BuildError(`DENORT_BIN is ${denort}, which is not a file; ${supplyDenort()}.`);
}

/** Compile the bundle into one executable, with the runtime that DENORT_BIN names if set. */
export async function compile(bundle: URL, exe: URL): Promise<void> {
  await checkDenortBin();
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      ...COMPILE_PERMISSIONS,
      `--v8-flags=${V8_FLAGS.join(",")}`,
      "-o",
      exe.pathname,
      bundle.pathname,
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (success) return;
  const text = new TextDecoder().decode(stderr);
  const missing = denortFailure(text);
  if (missing) throw new BuildError(missing);
  // Something else: deno's own words say best what.
  await Deno.stderr.write(stderr);
  throw new BuildError("deno compile failed (above).");
}

if (import.meta.main) {
  try {
    const compiling = Deno.args.includes("--compile");
    // No point bundling for a compile that cannot run.
    if (compiling) await checkDenortBin();
    const out = await build();
    const { size } = await Deno.stat(out);
    console.log(
      `wrote ${out.pathname} (${
        (size / 1024).toFixed(0)
      } KiB); run it with: deno run -A dist/parley.js`,
    );
    if (compiling) {
      const exe = new URL("parley", dist);
      await compile(out, exe);
      console.log(`wrote ${exe.pathname}`);
    }
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(1);
  }
}
