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
  await Deno.writeTextFile(
    new URL("entry.ts", gen),
    // The bundler folds import.meta.main to false outside the entry, so the entry runs main.
    [
      `import "./embedded.ts";`,
      `import server, { main, relaunchWithKv, runByDenoServe } from "../../server.ts";`,
      `export default server;`,
      `if (import.meta.main && !runByDenoServe()) {`,
      `  Deno.exit(typeof Deno.openKv === "function" ? await main(Deno.args) : await relaunchWithKv());`,
      `}`,
    ].join("\n") + "\n",
  );
  const out = new URL("parley.js", dist);
  await deno([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    new URL("entry.ts", gen).pathname,
    "-o",
    out.pathname,
  ]);
  await Deno.remove(gen, { recursive: true });
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
