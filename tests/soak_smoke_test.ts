/**
 * The soak harness, small: `scripts/soak.ts --smoke` for about 20 s (a real server process
 * on KV, six recovering clients, drops, kicks, a SIGTERM and a SIGKILL restart). Every acknowledged
 * message must be in history once, and the server's RSS must not run away. The real figures
 * come from `deno task soak` (10 minutes; `--minutes N`).
 */
import assert from "node:assert/strict";
import { runSoak, SMOKE, summary } from "../scripts/soak.ts";

Deno.test("soak --smoke: mixed traffic, drops, kicks and two restarts lose nothing", async () => {
  const result = await runSoak(SMOKE);
  console.log(summary(result));
  assert.deepEqual(result.failures, []);
  assert.ok(result.acked > 0 && result.acked === result.sent, "messages flowed and all were acked");
  assert.equal(result.restarts.length, SMOKE.restarts);
  assert.equal(result.lives.length, SMOKE.restarts + 1);
  assert.ok(result.lives.every((life) => life.samples.length > 0), "RSS was sampled");
});
