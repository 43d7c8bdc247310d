/** The single-file build: dist/parley.js runs from an empty directory, client assets inlined. */
import assert from "node:assert/strict";
import {
  build,
  BuildError,
  COMPILE_PERMISSIONS,
  deferNodeImports,
  denortFailure,
  PRELUDE,
  shiftSourceMap,
} from "../scripts/build.ts";
import { clientSourceKey } from "../server/assets.ts";
import { TestClient } from "./helpers.ts";
import { runDeno, spawnServer } from "./process.ts";

const BUILD = new URL("../scripts/build.ts", import.meta.url).pathname;

Deno.test("single file: dist/parley.js serves the page and chats from an empty directory", async () => {
  const bundle = await build();
  const dir = await Deno.makeTempDir();
  await Deno.copyFile(bundle, `${dir}/parley.js`);
  const server = await spawnServer(["parley.js"], { cwd: dir });
  try {
    const html = await (await fetch(server.url)).text();
    const js = html.match(/src="(\/assets\/app\.[0-9a-f]+\.js)"/)?.[1];
    assert.ok(js, "the page links the embedded client bundle");
    const asset = await fetch(server.url + js);
    assert.equal(asset.status, 200);
    assert.ok((await asset.text()).length > 1000);

    const ada = await TestClient.connect(server, "Ada");
    const bob = await TestClient.connect(server, "Bob");
    await ada.request("room.join", { room: "general" });
    await bob.request("room.join", { room: "general" });
    const received = bob.next((f) => f.type === "message" && f.message.text === "from one file");
    await ada.request("send", { room: "general", text: "from one file", nonce: "nonce-single" });
    await received;
    await ada.close();
    await bob.close();
    assert.ok((await Deno.stat(`${dir}/data/parley.kv`)).isFile, "data directory made beside it");
  } finally {
    assert.equal(await server.stop(), 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("single file: Node built-ins load after the relaunch check, bindings and columns unchanged", () => {
  const module = `import{createRequire as __req}from"node:module";`;
  const net = `import net from"node:net";`;
  const path = `import*as path from"node:path";`;
  const crypto = `import { a, b as c } from "node:crypto";`;
  const code = [`${module}var x=1;`, `var y=2;${net}${path}`, crypto, `export{x as default};`]
    .join("\n") + "\n";
  const blank = (statement: string) => " ".repeat(statement.length);
  const deferred = deferNodeImports(code, "// prelude\n");
  assert.equal(deferred.linesAdded, 5);
  assert.equal(
    deferred.code,
    [
      "// prelude",
      `const {createRequire: __req} = await import("node:module");`,
      `const { default: net } = await import("node:net");`,
      `const path = await import("node:path");`,
      `const { a, b: c } = await import("node:crypto");`,
      `${blank(module)}var x=1;`,
      `var y=2;${blank(net)}${blank(path)}`,
      blank(crypto),
      `export{x as default};`,
    ].join("\n") + "\n",
  );
  assert.throws(
    () => deferNodeImports(`var s=1;import a,{b}from"node:fs";`, ""),
    BuildError,
    "left static",
  );
  assert.equal(
    shiftSourceMap(JSON.stringify({ version: 3, mappings: "AAAA;CAAC" }), 3),
    JSON.stringify({ version: 3, mappings: ";;;AAAA;CAAC" }),
  );
  assert.match(PRELUDE, /^if \(import\.meta\.main && typeof Deno\.openKv !== "function"/);
  assert.match(PRELUDE, /"--unstable-kv", "--v8-flags=--max-semi-space-size=4,--expose-gc"/);
  assert.match(PRELUDE, /new URL\("#relaunched", Deno.mainModule\).href, ...Deno.args\]/);
});

Deno.test("client build cache: keyed by every client and protocol source and deno.json", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/client/lib`, { recursive: true });
    await Deno.mkdir(`${root}/protocol`);
    await Deno.writeTextFile(`${root}/client/lib/a.ts`, "export const a = 1;");
    await Deno.writeTextFile(`${root}/protocol/p.ts`, "export const p = 1;");
    await Deno.writeTextFile(`${root}/deno.json`, "{}");
    const first = await clientSourceKey(root);
    assert.match(first ?? "", /^[0-9a-f]{32}$/);
    assert.equal(await clientSourceKey(root), first, "same sources, same key");
    await Deno.writeTextFile(`${root}/protocol/p.ts`, "export const p = 2;");
    const second = await clientSourceKey(root);
    assert.notEqual(second, first, "a protocol change rebuilds");
    await Deno.writeTextFile(`${root}/deno.json`, `{"imports": {}}`);
    assert.notEqual(await clientSourceKey(root), second, "a deno.json change rebuilds");
    await Deno.remove(`${root}/client`, { recursive: true });
    assert.equal(await clientSourceKey(root), null, "no sources: no key, so no cache");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("single file: deno task compile without its runtime says so in one line, no stack", async () => {
  // DENORT_BIN naming a file that is not there: no network involved.
  const missing = "/nonexistent/denort";
  const { code, stderr } = await runDeno(["run", "-A", BUILD, "--compile"], {
    env: { DENORT_BIN: missing },
  });
  assert.notEqual(code, 0);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^error: .*DENORT_BIN/);
  assert.ok(lines[0]!.includes(missing), lines[0]);
});

Deno.test("single file: a runtime that cannot be downloaded is reported in one line", () => {
  // What deno compile printed on this machine, whose network cannot reach dl.deno.land.
  const stderr = [
    "error: Writing deno compile executable to temporary file 'dist/parley.tmp-86be52a8126a262a'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x.zip): " +
    "client error (Connect): dns error: failed to lookup address information",
    "    2: client error (Connect)",
    "    3: dns error",
    "    4: failed to lookup address information: Name or service not known",
    "",
    "Stack backtrace:",
    "   0: <unknown>",
  ].join("\n");
  assert.equal(
    denortFailure(stderr),
    "deno compile could not download its runtime (failed to lookup address information: " +
      "Name or service not known); set DENORT_BIN to a local denort, unzipped from " +
      "https://dl.deno.land/release/v2.9.6/denort-x.zip.",
  );
  assert.equal(denortFailure("error: Module not found"), null);
});

const denort = Deno.env.get("DENORT_BIN");
Deno.test({
  name: denort
    ? "single file: the compiled executable serves the page"
    : "single file: the compiled executable (SKIPPED: deno compile downloads the denort runtime, " +
      "which these machines cannot reach; set DENORT_BIN to a local denort to run it)",
  ignore: !denort,
  async fn() {
    const bundle = await build();
    const dir = await Deno.makeTempDir();
    const exe = `${dir}/parley`;
    const compiled = await runDeno(["compile", ...COMPILE_PERMISSIONS, "-o", exe, bundle.pathname]);
    assert.equal(compiled.code, 0, compiled.stderr);
    const child = new Deno.Command(exe, {
      args: ["--port", "0", "--hostname", "127.0.0.1", "--data", ":memory:"],
      stderr: "piped",
      stdout: "null",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let port = 0;
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited early: ${text}`);
      text += value;
      port = Number(text.match(/listening on http:\/\/[^:]+:(\d+)\//)?.[1] ?? 0);
    }
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    await page.body?.cancel();
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
    await Deno.remove(dir, { recursive: true });
  },
});
