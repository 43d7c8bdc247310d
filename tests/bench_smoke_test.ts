/**
 * The benchmark harness still runs: `deno task bench --smoke` goes through every scenario
 * at small sizes and writes its JSON and markdown. No speed is asserted here; figures
 * belong to real runs on a quiet machine (bench/RESULTS.md).
 */
import assert from "node:assert/strict";
import type { Results, RunResult } from "../bench/report.ts";

const MAIN = new URL("../bench/main.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("bench: --smoke runs every scenario and writes JSON and markdown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-bench-test-" });
  try {
    const json = `${dir}/results.json`;
    const markdown = `${dir}/RESULTS.md`;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--smoke", "--json", json, "--markdown", markdown],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Bounded: the smoke run takes about a minute (f and g start Redis and PostgreSQL).
      signal: AbortSignal.timeout(180_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `bench --smoke failed:\n${stderr}`);

    const results = JSON.parse(await Deno.readTextFile(json)) as Results;
    assert.equal(results.smoke, true);
    // Start-up: the bundle (relaunching, and given its flags), server.ts and a bare
    // hello-world, each a median in ms and ÷ bare.
    const startup = (await Deno.readTextFile(markdown)).split("## Start-up")[1] ?? "";
    assert.match(startup, /single file: .*\|\s*\d+\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*[\d.]+×\s*\|/);
    assert.match(startup, /with its flags: .*\|\s*\d+\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*[\d.]+×\s*\|/);
    assert.match(startup, /`deno run -A server.ts`.*\|\s*\d+\s*\|/);
    const finite = (n: unknown) => typeof n === "number" && Number.isFinite(n);
    for (const id of ["a", "b"] as const) {
      const runs = results.scenarios[id]?.runs ?? {};
      for (const target of ["parley", "bare", "coalescing"] as const) {
        const run = runs[target];
        assert.equal(run?.kind, "throughput", `${id}/${target}: ${JSON.stringify(run)}`);
        if (run?.kind !== "throughput") continue;
        assert.ok(run.deliveries > 0 && finite(run.deliveriesPerSecond), `${id}/${target}`);
        assert.ok(finite(run.cpu.server) && finite(run.cpu.generator), `${id}/${target} cpu`);
      }
    }
    for (const target of ["parley", "bare", "coalescing"] as const) {
      const c = results.scenarios.c?.runs[target];
      assert.equal(c?.kind, "latency", `c/${target}: ${JSON.stringify(c)}`);
      if (c?.kind === "latency") {
        assert.ok(c.samples > 0 && finite(c.p50Ms) && finite(c.p99Ms), `c/${target}`);
      }
      const d = results.scenarios.d?.runs[target];
      assert.equal(d?.kind, "idle", `d/${target}: ${JSON.stringify(d)}`);
      if (d?.kind === "idle") assert.ok(finite(d.bytesPerConnection), `d/${target}`);
    }
    const e = results.scenarios.e?.persistence;
    for (const side of [e?.grouped, e?.single]) {
      assert.ok(side && !("kind" in side) && side.committed > 0, JSON.stringify(side));
    }
    // f and g ran on all three topologies, or say why they were skipped (no Redis/PostgreSQL).
    for (const id of ["f", "g"] as const) {
      const s = results.scenarios[id];
      assert.ok(s, `${id} missing`);
      if (s.skipped) {
        console.log(`bench ${id}: skipped: ${s.skipped}`);
        continue;
      }
      for (const topology of ["kv1", "pg1", "pg2"] as const) {
        const run: RunResult | undefined = s.topologies?.[topology];
        const kind = id === "f" ? "latency" : "throughput";
        assert.equal(run?.kind, kind, `${id}/${topology}: ${JSON.stringify(run)}`);
        if (run?.kind === "latency") {
          assert.ok(run.samples > 0 && finite(run.p50Ms) && finite(run.p99Ms), `${id}/${topology}`);
        }
        if (run?.kind === "throughput") {
          assert.ok(run.deliveries > 0 && run.acked > 0, `${id}/${topology}`);
        }
      }
      const rows = (results.topologyRows ?? []).filter((r) => r.scenario === id);
      assert.ok(rows.length > 0 && rows.every((r) => finite(r.pg2VsKv1)), JSON.stringify(rows));
    }
    // Every row with a target has a Parley figure to hold against it.
    for (const row of results.rows.filter((r) => r.target)) {
      assert.ok(finite(row.parley), `${row.scenario}: ${row.figure}`);
    }

    const text = await Deno.readTextFile(markdown);
    for (const title of ["busy room", "many rooms", "latency", "idle connections", "persistence"]) {
      assert.match(text, new RegExp(`\\| [a-e]\\. ${title}\\s*\\|`));
    }
    for (const title of ["cross-process latency", "room over 2 processes"]) {
      assert.match(text, new RegExp(`\\| [fg]\\. ${title}\\s*\\|`));
    }
    assert.match(text, /Deno \d+\.\d+\.\d+/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
