/** The command line, run as a user would: `deno run -A server.ts ...`. */
import assert from "node:assert/strict";
import { FLAGS } from "../server/config.ts";
import { TestClient } from "./helpers.ts";
import { runDeno, spawnServer } from "./process.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;

Deno.test("cli: --help lists every flag with its default", async () => {
  const { code, stdout } = await runDeno(["run", "-A", SERVER, "--help"]);
  assert.equal(code, 0);
  for (const [name, spec] of Object.entries(FLAGS)) {
    assert.match(stdout, new RegExp(`--${name}\\b`));
    if (spec.env) assert.match(stdout, new RegExp(spec.env));
  }
  assert.match(stdout, /default: 8000/);
  assert.match(stdout, /default: localhost/);
});

Deno.test("cli: an unknown flag or a bad value is a clear error with exit code 2", async () => {
  const unknown = await runDeno(["run", "-A", SERVER, "--prot", "80"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /error: .*--prot.*--help/s);
  const badPort = await runDeno(["run", "-A", SERVER, "--port", "eighty"]);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--port must be a whole number/);
  const badEnv = await runDeno(["run", "-A", SERVER], { env: { PARLEY_PORT: "99999" } });
  assert.equal(badEnv.code, 2);
});

Deno.test("cli: starts from flags and PARLEY_* variables, serves, and stops cleanly on SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const server = await spawnServer([SERVER, "--data", `${dir}/data`], {
    env: { PARLEY_TITLE: "Team Talk" },
  });
  try {
    const page = await (await fetch(server.url)).text();
    assert.match(page, /<title>Team Talk<\/title>/);
    const ada = await TestClient.connect(server, "Ada");
    await ada.request("room.join", { room: "general" });
    await ada.close();
    assert.match(await Deno.readTextFile(`${dir}/data/secret.key`), /^[0-9a-f]{64}\n$/);
  } finally {
    assert.equal(await server.stop("SIGTERM"), 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: the signing secret survives a restart, so identities stay valid", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await spawnServer([SERVER, "--data", dir]);
    const signIn = await fetch(`${first.url}/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: first.url },
      body: JSON.stringify({ name: "Ada" }),
    });
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    await signIn.body?.cancel();
    await first.stop();
    const second = await spawnServer([SERVER, "--data", dir]);
    const me = await (await fetch(`${second.url}/api/me`, { headers: { cookie } })).json();
    assert.deepEqual(me.identities.map((m: { name: string }) => m.name), ["Ada"]);
    await second.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
