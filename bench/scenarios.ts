/**
 * The scenarios. Each runs against one started target, is bounded in time, and returns
 * plain numbers; main.ts runs every target through the same code, so the load shape is
 * identical for Parley and the baselines.
 */
import { BenchClient, type Endpoint, pool, signIn, Tally } from "./client.ts";
import {
  coreBusyMs,
  cpuMeter,
  cpuMs,
  machineBusyMs,
  rssPeakSampler,
  statusBytes,
  threadMeter,
} from "./proc.ts";
import type { Progress } from "./progress.ts";

export interface Context {
  endpoint: Endpoint;
  /** The server's pid, for its CPU and memory. */
  pid: number;
  label: string;
  durationMs: number;
  warmupMs: number;
  /** How long d lets the server settle before reading its RSS (GC, lazy frees). */
  settleMs: number;
  /** d: how long the connections sit idle before the settled reading. */
  idleMs: number;
  progress: Progress;
  /** Every server process of the run (default: `pid` alone); CPU is summed over them. */
  pids?: number[];
  /** Outside engines the servers use, by name (Redis, PostgreSQL), read at start and end. */
  enginePids?: () => Record<string, number[]>;
  /** Which server client `index` connects to (default: `endpoint`). */
  endpointOf?: (index: number) => Endpoint;
  /** Told of every client once connected and joined (e.g. to count them by worker). */
  onConnected?: (clients: BenchClient[]) => void;
}

export interface Cpu {
  /** Share of one core over the measured window (1 = one core busy). */
  server: number;
  generator: number;
  /** The server's CPU by thread name (JS main thread, tokio I/O, KV...), shares of one core. */
  serverThreads: Record<string, number>;
  /** Everything else the machine ran meanwhile: another load skews the figures. */
  others: number;
  /** With several server processes: each one's share, in `pids` order. */
  perServer?: number[];
  /** Redis and PostgreSQL, when the servers use them (not counted in `others`). */
  engines?: number;
  /** The same by engine. */
  engineParts?: Record<string, number>;
  /** How busy each core was (anything on it), as a share of that core. */
  cores?: number[];
}

interface RunBase {
  cpu: Cpu;
  /** Whatever the server wrote during the run, if anything (main.ts fills it in). */
  serverLog?: string;
}

export interface ThroughputResult extends RunBase {
  kind: "throughput";
  clients: number;
  rooms: number;
  batch: number;
  rounds: number;
  deliveries: number;
  messages: number;
  wallMs: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
  /** Sends acknowledged in the window: each one committed by the Store first. */
  acked: number;
  ackedPerSecond: number;
  rateLimited: number;
  errors: number;
  /** Rounds stopped waiting: a message was lost or the server stalled. */
  stalled: boolean;
  peakRssBytes: number;
  cpu: Cpu;
}

export interface LatencyResult extends RunBase {
  kind: "latency";
  clients: number;
  rooms: number;
  ratePerClient: number;
  sent: number;
  sendRate: number;
  samples: number;
  /** Deliveries to other members expected in the window but not seen by its end. */
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  wallMs: number;
  cpu: Cpu;
}

export interface IdleResult extends RunBase {
  kind: "idle";
  connections: number;
  rooms: number;
  rssBeforeBytes: number;
  /** RSS `settleMs` after the last connection opened: still holding the storm's garbage. */
  rssAfterConnectBytes: number;
  bytesPerConnectionAfterConnect: number;
  /** RSS after `idleMs` with nothing happening, once V8 has given back what it no longer uses. */
  rssAfterBytes: number;
  bytesPerConnection: number;
  idleMs: number;
  setupMs: number;
  cpu: Cpu;
}

const SETTLE_MS = 300;
const STALL_MS = 10_000;
const TEXT = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, message ";

export interface Meters {
  read(): Cpu;
}

/**
 * Start measuring the servers' CPU (in total, by process and by thread), the engines' (if
 * any) and the generator's own.
 */
export function meters(ctx: Pick<Context, "pid" | "pids" | "enginePids">): Meters {
  const pids = ctx.pids ?? [ctx.pid];
  const servers = pids.map((pid) => cpuMeter(pid));
  const threads = pids.map((pid) => threadMeter(pid));
  const list = ctx.enginePids;
  const engines = list
    ? Object.keys(list()).map((name) => [name, processesMeter(() => list()[name] ?? [])] as const)
    : null;
  const generator = cpuMeter(Deno.pid);
  const busy0 = machineBusyMs() ?? 0;
  const cores0 = coreBusyMs();
  const t0 = performance.now();
  return {
    read: () => {
      const cores = coreBusyMs();
      const s = servers.map((m) => m());
      const parts = engines?.map(([name, meter]) => [name, meter()] as const);
      const e = parts?.reduce((sum, [, ms]) => sum + ms, 0);
      const g = generator();
      const wallMs = performance.now() - t0;
      const busy = (machineBusyMs() ?? busy0) - busy0;
      const serverMs = s.reduce((sum, x) => sum + x.cpuMs, 0);
      const serverThreads: Record<string, number> = {};
      for (const shares of threads.map((t) => t())) {
        for (const [name, v] of Object.entries(shares)) {
          serverThreads[name] = (serverThreads[name] ?? 0) + v;
        }
      }
      const cpu: Cpu = {
        server: wallMs > 0 ? serverMs / wallMs : 0,
        generator: g.share,
        serverThreads,
        others: wallMs > 0 ? Math.max(0, (busy - serverMs - (e ?? 0) - g.cpuMs) / wallMs) : 0,
      };
      if (pids.length > 1) cpu.perServer = s.map((x) => x.share);
      if (wallMs > 0 && cores.length > 0 && cores.length === cores0.length) {
        cpu.cores = cores.map((ms, i) => (ms - cores0[i]!) / wallMs);
      }
      if (e !== undefined && parts && wallMs > 0) {
        cpu.engines = e / wallMs;
        cpu.engineParts = Object.fromEntries(parts.map(([name, ms]) => [name, ms / wallMs]));
      }
      return cpu;
    },
  };
}

/** CPU ms used meanwhile by a changing set of processes (new ones count from zero). */
function processesMeter(list: () => number[]): () => number {
  const before = new Map(list().map((pid) => [pid, cpuMs(pid) ?? 0]));
  return () => {
    let used = 0;
    for (const pid of new Set([...before.keys(), ...list()])) {
      const now = cpuMs(pid);
      if (now !== null) used += now - (before.get(pid) ?? 0);
    }
    return used;
  };
}

export const noCpu = (): Cpu => ({ server: 0, generator: 0, serverThreads: {}, others: 0 });

export const roomName = (r: number) => `r${r}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sign `n` clients in, open their sockets (on `ctx.endpointOf(i)` if given), create `rooms`
 * rooms and join client i to i % rooms.
 */
export async function connectAll(
  ctx: Context,
  n: number,
  rooms: number,
  tally: Tally,
  { offset = 0, create = true } = {},
): Promise<BenchClient[]> {
  const { progress } = ctx;
  let connected = 0;
  const clients = await pool(n, 100, async (i) => {
    const endpoint = ctx.endpointOf?.(offset + i) ?? ctx.endpoint;
    const identity = await signIn(endpoint, `bench-${offset + i}`, `bench ${offset + i}`);
    const client = await BenchClient.connect(identity, offset + i, tally);
    if (++connected % 500 === 0) progress.update(`connected ${connected}/${n}`);
    return client;
  });
  // One creator per room keeps every connection within Parley's room-creation burst.
  if (create) await pool(Math.min(rooms, n), 50, (r) => clients[r]!.createRoom(roomName(r)));
  let joined = 0;
  await pool(n, 200, async (i) => {
    await clients[i]!.request("room.join", { room: roomName((offset + i) % rooms), limit: 0 });
    if (++joined % 500 === 0) progress.update(`joined ${joined}/${n}`);
  });
  // Let the presence pushes of the joins drain before anything is measured.
  await sleep(SETTLE_MS);
  ctx.onConnected?.(clients);
  return clients;
}

/** Close every client, waiting a bounded time for the close handshakes. */
export async function closeAll(clients: BenchClient[]): Promise<void> {
  for (const client of clients) client.close();
  await Promise.race([Promise.all(clients.map((c) => c.closed)), sleep(3000)]);
}

/**
 * a and b: every client sends `batch` messages at once (pipelined, not waiting for
 * acks); the next round starts when every member has received every message.
 */
export async function saturate(
  ctx: Context,
  sizes: { clients: number; rooms: number; batch: number },
): Promise<ThroughputResult> {
  const { clients: n, rooms, batch } = sizes;
  const tally = new Tally();
  const peak = rssPeakSampler(ctx.pid);
  const clients = await connectAll(ctx, n, rooms, tally);
  try {
    const roomSize = (r: number) => Math.floor(n / rooms) + (r < n % rooms ? 1 : 0);
    // Each message reaches every member of its room, the sender included.
    let perRound = 0;
    for (let r = 0; r < rooms; r++) perRound += batch * roomSize(r) ** 2;
    const roomOf = clients.map((c) => roomName(c.index % rooms));
    const counters = new Array<number>(n).fill(0);
    const sendRound = () => {
      for (let i = 0; i < n; i++) {
        const client = clients[i]!;
        const room = roomOf[i]!;
        for (let k = 0; k < batch; k++) {
          const m = counters[i]!++;
          client.send(room, TEXT + m, `n${i}-${m}`.padEnd(8, "."));
        }
      }
    };

    // One clock for warm-up and window: a slow server's long rounds cannot stretch the run,
    // and deliveries of the round in flight at either edge count where they land.
    const w: {
      t0: number;
      d0: number;
      a0: number;
      aEnd: number;
      limited0: number;
      rounds0: number;
      tEnd: number;
      dEnd: number;
      cpu: Cpu;
      meters?: Meters;
    } = {
      t0: 0,
      d0: 0,
      a0: 0,
      aEnd: 0,
      limited0: 0,
      rounds0: 0,
      tEnd: 0,
      dEnd: 0,
      cpu: noCpu(),
    };
    let rounds = 0;
    let measuring = false;
    let done = false;
    let stalled = false;
    const startTimer = setTimeout(() => {
      measuring = true;
      w.t0 = performance.now();
      w.d0 = tally.delivered;
      w.a0 = tally.acked;
      w.limited0 = tally.rateLimited;
      w.rounds0 = rounds;
      w.meters = meters(ctx);
    }, ctx.warmupMs);
    const endTimer = setTimeout(() => {
      w.tEnd = performance.now();
      w.dEnd = tally.delivered;
      w.aEnd = tally.acked;
      w.cpu = w.meters!.read();
      done = true;
      tally.release();
    }, ctx.warmupMs + ctx.durationMs);
    // No delivery for this long means a message was lost or the server hung.
    let seen = -1;
    let lastProgress = performance.now();
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (tally.delivered !== seen) {
        seen = tally.delivered;
        lastProgress = now;
      } else if (now - lastProgress > STALL_MS) {
        stalled = true;
        tally.release();
      }
      if (!measuring) return ctx.progress.update("warming up");
      const s = (now - w.t0) / 1000;
      ctx.progress.update(
        `${s.toFixed(1)}/${ctx.durationMs / 1000} s, ${rounds - w.rounds0} rounds, ` +
          `${fmt((tally.delivered - w.d0) / s)} deliveries/s, ` +
          `rate-limited ${tally.rateLimited - w.limited0}`,
      );
    }, 500);
    try {
      while (!done && !stalled) {
        const target = tally.delivered + perRound;
        sendRound();
        await tally.until(target);
        if (tally.delivered >= target) rounds++;
      }
    } finally {
      clearTimeout(startTimer);
      clearTimeout(endTimer);
      clearInterval(watchdog);
    }
    const wallMs = done ? w.tEnd - w.t0 : 0;
    const deliveries = done ? w.dEnd - w.d0 : 0;
    const acked = done ? w.aEnd - w.a0 : 0;
    // Deliveries per message sent, on average over the rooms.
    const fanout = perRound / (n * batch);
    return {
      kind: "throughput",
      clients: n,
      rooms,
      batch,
      rounds: rounds - w.rounds0,
      deliveries,
      messages: deliveries / fanout,
      wallMs,
      deliveriesPerSecond: wallMs > 0 ? deliveries / (wallMs / 1000) : 0,
      messagesPerSecond: wallMs > 0 ? deliveries / fanout / (wallMs / 1000) : 0,
      acked,
      ackedPerSecond: wallMs > 0 ? acked / (wallMs / 1000) : 0,
      rateLimited: tally.rateLimited - w.limited0,
      errors: tally.errors,
      stalled,
      peakRssBytes: peak.stop(),
      cpu: w.cpu,
    };
  } finally {
    peak.stop();
    await closeAll(clients);
  }
}

/**
 * Send-to-delivery times, read from texts `L<sender index>:<performance.now() at send>`
 * (one clock: the generator's). A client's own messages and acks are not samples.
 */
export class LatencySamples {
  /** Messages sent before this (warm-up) are not samples. */
  measureFrom = Infinity;
  count = 0;
  #samples = new Float64Array(1 << 16);

  /** The `onData` of client `own`. */
  reader(own: number): (data: string) => void {
    const KEY = '"text":"L';
    return (data) => {
      const now = performance.now();
      for (let i = data.indexOf(KEY); i !== -1; i = data.indexOf(KEY, i + KEY.length)) {
        let j = i + KEY.length;
        let from = 0;
        for (let c = data.charCodeAt(j); c >= 48 && c <= 57; c = data.charCodeAt(++j)) {
          from = from * 10 + c - 48;
        }
        if (from === own) continue; // its own echo or its ack
        const sentAt = Number(data.slice(j + 1, data.indexOf('"', j)));
        if (sentAt < this.measureFrom) continue;
        if (this.count === this.#samples.length) {
          const grown = new Float64Array(this.#samples.length * 2);
          grown.set(this.#samples);
          this.#samples = grown;
        }
        this.#samples[this.count++] = now - sentAt;
      }
    };
  }

  /** The samples so far, sorted; `pick(q)` is the q-quantile (1: the maximum), NaN if none. */
  sorted(): { count: number; pick: (q: number) => number } {
    const count = this.count;
    const sorted = this.#samples.slice(0, count).sort();
    return {
      count,
      pick: (q) => count ? sorted[Math.min(count - 1, Math.floor(q * count))]! : NaN,
    };
  }
}

/**
 * c: every client sends at a fixed rate (open loop, spread evenly over time) a text
 * carrying its index and send time; every other member's delivery is one sample.
 */
export async function latency(
  ctx: Context,
  sizes: { clients: number; rooms: number; ratePerClient: number },
): Promise<LatencyResult> {
  const { clients: n, rooms, ratePerClient } = sizes;
  const tally = new Tally();
  const clients = await connectAll(ctx, n, rooms, tally);
  try {
    const samples = new LatencySamples();
    for (const client of clients) client.onData = samples.reader(client.index);
    const roomOf = clients.map((c) => roomName(c.index % rooms));
    const others = clients.map((c) => {
      const r = c.index % rooms;
      return Math.floor(n / rooms) + (r < n % rooms ? 1 : 0) - 1;
    });
    const perMs = (n * ratePerClient) / 1000;
    const start = performance.now();
    const measureFrom = samples.measureFrom = start + ctx.warmupMs;
    const stopAt = measureFrom + ctx.durationMs;
    let sent = 0;
    let sentInWindow = 0;
    let expected = 0;
    let cpuMeters: Meters | undefined;
    // One scheduler for all clients: send k goes to client k % n, so each sends at its rate.
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
          const k = sent % n;
          clients[k]!.send(roomOf[k]!, `L${k}:${stamp}`, `n${k}-${sent}`.padEnd(8, "."));
          if (now >= measureFrom) {
            sentInWindow++;
            expected += others[k]!;
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
      ratePerClient,
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

/**
 * d: `connections` authenticated sockets that said hello and joined a room, then sit
 * idle. Server RSS after minus before, over the count. A few warm-up connections are
 * opened (and kept) before "before", so JIT and first-use allocations are not counted.
 * RSS is read twice: shortly after the connect storm, when the heap still holds what
 * the storm grew, and after the sockets have sat idle long enough for V8's memory
 * reducer (its first idle GC comes about 8 s after the last full one) to return it.
 * Every target gets the same waits, so the ratio compares like with like.
 */
export async function idle(
  ctx: Context,
  sizes: { connections: number; rooms: number; warmup: number },
): Promise<IdleResult> {
  const tally = new Tally();
  const all: BenchClient[] = [];
  try {
    all.push(...await connectAll(ctx, sizes.warmup, sizes.rooms, tally));
    await sleep(ctx.settleMs / 3);
    const before = statusBytes(ctx.pid, "VmRSS") ?? 0;
    const cpuMeters = meters(ctx);
    const t0 = performance.now();
    // The warm-up clients created the rooms; these only join.
    all.push(
      ...await connectAll(ctx, sizes.connections, sizes.rooms, tally, {
        offset: sizes.warmup,
        create: false,
      }),
    );
    const setupMs = performance.now() - t0;
    const cpu = cpuMeters.read();
    ctx.progress.update(`${sizes.connections} idle connections open; settling`);
    await sleep(ctx.settleMs);
    const afterConnect = statusBytes(ctx.pid, "VmRSS") ?? 0;
    ctx.progress.update(
      `${sizes.connections} idle connections; ${fmtMB(afterConnect - before)} MB more; idling`,
    );
    await sleep(Math.max(0, ctx.idleMs - ctx.settleMs));
    const after = statusBytes(ctx.pid, "VmRSS") ?? 0;
    return {
      kind: "idle",
      connections: sizes.connections,
      rooms: sizes.rooms,
      rssBeforeBytes: before,
      rssAfterConnectBytes: afterConnect,
      bytesPerConnectionAfterConnect: (afterConnect - before) / sizes.connections,
      rssAfterBytes: after,
      bytesPerConnection: (after - before) / sizes.connections,
      idleMs: ctx.idleMs,
      setupMs,
      cpu,
    };
  } finally {
    await closeAll(all);
  }
}

function fmtMB(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}
