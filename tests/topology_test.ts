/** How processes may share data: one per KV directory unless they share a bus. */
import assert from "node:assert/strict";
import { runDeno, spawnServer } from "./process.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;

Deno.test("topology: a second process on one KV directory without a shared bus refuses to start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-lock-" });
  const first = await spawnServer([SERVER, "--data", dir]);
  try {
    const second = await runDeno(["run", "-A", SERVER, "--data", dir, "--port", "0"]);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /Another Parley process is using the data directory/);
    assert.match(second.stderr, /--bus redis:\/\//);
    const health = await fetch(`${first.url}/healthz`);
    assert.equal(health.status, 200, "the first process goes on");
    await health.body?.cancel();
  } finally {
    assert.equal(await first.stop("SIGKILL"), 137);
  }
  // The kernel dropped the lock with the killed process: a restart is not refused.
  const again = await spawnServer([SERVER, "--data", dir]);
  try {
    const health = await fetch(`${again.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await again.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
