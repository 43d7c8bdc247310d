/** The command line, run as a user would: `deno run -A server.ts ...`. */
import assert from "node:assert/strict";
import { FLAGS, V8_FLAGS } from "../server/config.ts";
import { signIn, TestClient } from "./helpers.ts";
import { KvStore } from "../server/store/kv.ts";
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

Deno.test("cli: deno task start runs with the same V8 flags as the executable and the bench", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const start: string = config.tasks.start;
  assert.ok(
    start.split(" ").includes(`--v8-flags=${V8_FLAGS.join(",")}`),
    `deno.json's start task (${start}) should carry V8_FLAGS from server/config.ts`,
  );
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
    assert.ok((await Deno.stat(`${dir}/data/parley.kv`)).isFile);
  } finally {
    assert.equal(await server.stop("SIGTERM"), 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --create-admin makes a headless admin; accounts and sessions survive a restart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made = await runDeno(["run", "-A", SERVER, "--data", dir, "--create-admin", "boss"], {
      env: { PARLEY_ADMIN_PASSWORD: "boss-correct-horse-battery" },
    });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /Created server admin boss/);
    const weak = await runDeno(["run", "-A", SERVER, "--data", dir, "--create-admin", "weak"], {
      env: { PARLEY_ADMIN_PASSWORD: "short" },
    });
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /at least 10 characters/);

    const first = await spawnServer([SERVER, "--data", dir]);
    const boss = await login(first.url, "boss", "boss-correct-horse-battery");
    assert.equal(boss.role, "admin");
    // The admin exists, so the first account registered through the web is a plain user.
    const { cookie, user } = await signIn(first, "Ada");
    const me = await (await fetch(`${first.url}/api/me`, { headers: { cookie } })).json();
    assert.deepEqual([me.user.id, me.role], [user.id, "user"]);
    await first.stop();

    const second = await spawnServer([SERVER, "--data", dir]);
    const again = await (await fetch(`${second.url}/api/me`, { headers: { cookie } })).json();
    assert.equal(again.user.id, user.id, "the session outlives the restart");
    await second.stop();
    // Stored at the cost OWASP asks for, since no flag lowered it.
    const store = await KvStore.open(`${dir}/parley.kv`);
    const account = await store.accounts.byName("ada");
    assert.match(account!.passwordHash!, /^scrypt\$17\$8\$1\$/);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function login(url: string, username: string, password: string) {
  const response = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(response.status, 200);
  return await response.json();
}
