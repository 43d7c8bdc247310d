/**
 * f and g: Parley over several processes (PostgreSQL store, Redis bus) against one process,
 * under the same load. Each run starts its own servers (and, through `Engines`, its own
 * Redis and database), is bounded in time, and stops everything it started, even on failure.
 *
 * - f. cross-process latency: in each room half the members only send (on process A) and
 *   half only receive (on process B), at a fixed rate (open loop); a sample is one delivery
 *   to one receiver, from send to arrival.
 * - g. one room over 2 processes: a's closed loop (pipelined batches, a round ends when every
 *   member has every message), with alternate clients on A and B.
 *
 * The one-process topologies take exactly the same clients and rooms, all on one process.
 */
import { type Endpoint, randomSecret, Tally } from "./client.ts";
import type { Engines, RunEngines } from "./engines.ts";
import type { Progress } from "./progress.ts";
import { type RunResult, SCENARIO_TITLES } from "./report.ts";
import {
  closeAll,
  connectAll,
  type Context,
  fmt,
  type LatencyResult,
  LatencySamples,
  type Meters,
  meters,
  noCpu,
  roomName,
  saturate,
  sleep,
} from "./scenarios.ts";
import {
  type RunningTarget,
  serverLog,
  startTarget,
  type Stoppers,
  type TargetOptions,
  type Topology,
  TOPOLOGY_LABELS,
} from "./targets.ts";

export type TopologyScenario = "f" | "g";

export interface TopologySizes {
  f: { clients: number; rooms: number; ratePerSender: number };
  g: { clients: number; rooms: number; batch: number };
}

export interface TopologyPlan {
  durationMs: number;
  warmupMs: number;
  smoke: boolean;
  sizes: TopologySizes;
  target: TargetOptions;
}

/** In f, members of a room alternate sender, receiver by their rank in it (first: sender). */
export const isSender = (index: number, rooms: number) => Math.floor(index / rooms) % 2 === 0;

/**
 * One run of `id` on `topology`: start the engines (pg1, pg2) and the servers, drive them,
 * stop them all. Failures come back as `{kind: "error"}`.
 */
export async function runTopology(
  id: TopologyScenario,
  topology: Topology,
  p: TopologyPlan,
  engines: Engines,
  stoppers: Stoppers,
  progress: Progress,
): Promise<RunResult> {
  progress.start(`${id}. ${SCENARIO_TITLES[id]} / ${TOPOLOGY_LABELS[topology]}`);
  let run: RunEngines | null = null;
  const servers: RunningTarget[] = [];
  try {
    if (topology !== "kv1") {
      progress.update("starting Redis and PostgreSQL");
      run = await engines.forRun();
    }
    const shared = run ? ["--store", run.storeUrl, "--bus", run.redisUrl] : [];
    const options: TargetOptions = {
      ...p.target,
      parleyArgs: [...shared, ...p.target.parleyArgs],
      jwtSecret: randomSecret(),
      stoppers,
    };
    // One at a time: the first runs the store's migrations, the second finds them done.
    for (let i = 0; i < (topology === "pg2" ? 2 : 1); i++) {
      progress.update(`starting Parley ${i === 0 ? "A" : "B"}`);
      servers.push(await startTarget("parley", options));
    }
    const [a, b = a] = servers as [RunningTarget, RunningTarget?];
    const endpointOf: (index: number) => Endpoint = id === "f"
      ? (i) => isSender(i, p.sizes.f.rooms) ? a : b
      : (i) => i % 2 === 0 ? a : b;
    const ctx: Context = {
      endpoint: a,
      pid: a.pid,
      pids: servers.map((s) => s.pid),
      ...(run ? { enginePids: run.pids } : {}),
      endpointOf,
      label: `${id}/${topology}`,
      durationMs: p.durationMs,
      warmupMs: p.warmupMs,
      settleMs: p.smoke ? 500 : 3000,
      idleMs: 0,
      progress,
    };
    let result: RunResult;
    if (id === "f") {
      const r = await crossLatency(ctx, p.sizes.f);
      progress.done(
        `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${
          r.maxMs.toFixed(1)
        } ms (${r.samples} samples, missing ${r.missing}, ${cpuLine(r.cpu)})`,
      );
      result = r;
    } else {
      const r = await saturate(ctx, p.sizes.g);
      progress.done(
        `${fmt(r.deliveriesPerSecond)} deliveries/s, ${
          fmt(r.ackedPerSecond)
        } committed/s (${r.rounds} rounds, ${cpuLine(r.cpu)}${r.stalled ? ", STALLED" : ""})`,
      );
      result = r;
    }
    // Read after stop, so shutdown complaints are in it too.
    for (const server of servers) await server.stop();
    const logs = servers.map((s, i) => {
      const log = serverLog(s);
      return log && (servers.length > 1 ? `${i === 0 ? "A" : "B"}: ${log}` : log);
    }).filter(Boolean);
    return logs.length ? { ...result, serverLog: logs.join(" | ").slice(-4000) } : result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.done(`FAILED: ${message}`);
    return { kind: "error", error: message };
  } finally {
    for (const server of servers) await server.stop();
    await run?.stop();
  }
}

function cpuLine(cpu: LatencyResult["cpu"]): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const parts = [`Parley CPU ${pct(cpu.server)}`];
  if (cpu.perServer) parts[0] += ` (${cpu.perServer.map(pct).join(" + ")})`;
  for (const [name, share] of Object.entries(cpu.engineParts ?? {})) {
    parts.push(`${name} ${pct(share)}`);
  }
  parts.push(`generator ${pct(cpu.generator)}`);
  return parts.join(", ");
}

/**
 * f: the senders of every room send at `ratePerSender` msg/s each (open loop, spread evenly
 * over time) a text carrying their index and the send time; each receiver's delivery is one
 * sample. Where the clients connect is `ctx.endpointOf`'s business.
 */
export async function crossLatency(
  ctx: Context,
  sizes: TopologySizes["f"],
): Promise<LatencyResult> {
  const { clients: n, rooms, ratePerSender } = sizes;
  const tally = new Tally();
  const clients = await connectAll(ctx, n, rooms, tally);
  try {
    const samples = new LatencySamples();
    const senders = clients.filter((c) => isSender(c.index, rooms));
    const receivers = new Array<number>(rooms).fill(0);
    for (const client of clients) {
      if (isSender(client.index, rooms)) continue;
      receivers[client.index % rooms]!++;
      client.onData = samples.reader(client.index);
    }
    const roomOf = senders.map((c) => roomName(c.index % rooms));
    const fanout = senders.map((c) => receivers[c.index % rooms]!);
    const perMs = (senders.length * ratePerSender) / 1000;
    const start = performance.now();
    const measureFrom = samples.measureFrom = start + ctx.warmupMs;
    const stopAt = measureFrom + ctx.durationMs;
    let sent = 0;
    let sentInWindow = 0;
    let expected = 0;
    let cpuMeters: Meters | undefined;
    // One scheduler: send k goes to sender k % senders, so each sends at its rate.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        if (!cpuMeters && now >= measureFrom) cpuMeters = meters(ctx);
        if (now >= stopAt) {
          clearInterval(timer);
          resolve();
          return;
        }
        const due = Math.floor((now - start) * perMs);
        const stamp = now.toFixed(3);
        for (; sent < due; sent++) {
          const k = sent % senders.length;
          const sender = senders[k]!;
          sender.send(
            roomOf[k]!,
            `L${sender.index}:${stamp}`,
            `n${sender.index}-${sent}`.padEnd(8, "."),
          );
          if (now >= measureFrom) {
            sentInWindow++;
            expected += fanout[k]!;
          }
        }
        if (now >= measureFrom + 500) {
          const s = (now - measureFrom) / 1000;
          ctx.progress.update(
            `${s.toFixed(1)}/${ctx.durationMs / 1000} s, ${fmt(sentInWindow / s)} sends/s, ` +
              `${samples.count} samples`,
          );
        }
      }, 2);
    });
    const cpu = cpuMeters?.read() ?? noCpu();
    // Deliveries still in flight get a bounded grace period.
    const graceEnd = performance.now() + 3000;
    while (samples.count < expected && performance.now() < graceEnd) await sleep(20);
    const { count, pick } = samples.sorted();
    return {
      kind: "latency",
      clients: n,
      rooms,
      ratePerClient: ratePerSender,
      sent: sentInWindow,
      sendRate: sentInWindow / (ctx.durationMs / 1000),
      samples: count,
      missing: Math.max(0, expected - count),
      p50Ms: pick(0.5),
      p99Ms: pick(0.99),
      maxMs: pick(1),
      errors: tally.errors + tally.rateLimited,
      wallMs: ctx.durationMs,
      cpu,
    };
  } finally {
    await closeAll(clients);
  }
}
