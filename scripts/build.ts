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
  if (!success) throw new Error(`deno ${args.join(" ")} failed`);
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

if (import.meta.main) {
  const out = await build();
  const { size } = await Deno.stat(out);
  console.log(
    `wrote ${out.pathname} (${
      (size / 1024).toFixed(0)
    } KiB); run it with: deno run -A dist/parley.js`,
  );
  if (Deno.args.includes("--compile")) {
    const exe = new URL("parley", dist);
    await deno([
      "compile",
      ...COMPILE_PERMISSIONS,
      `--v8-flags=${V8_FLAGS.join(",")}`,
      "-o",
      exe.pathname,
      out.pathname,
    ]);
    console.log(`wrote ${exe.pathname}`);
  }
}
