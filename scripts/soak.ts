/**
 * Soak: a real Parley process (Deno KV in a temporary directory) under mixed traffic from
 * many recovering clients, with random socket drops, reconnects, kicks by an admin and
 * server restarts (SIGTERM or SIGKILL, then a new process on the same data). The server's
 * RSS is sampled every second; after warm-up it must stay flat. At the end every
 * acknowledged message is in history exactly once, at the seq it was acknowledged with.
 *
 *   deno task soak                 # 10 minutes
 *   deno task soak --minutes 3     # shorter
 *   deno task soak --smoke         # ~20 s, what `deno task test` runs (tests/soak_smoke_test.ts)
 *
 * Flags: --clients N, --seed N, --growth-mib N (the RSS bound), --restarts N (2; fewer when
 * the run is short, so each server life lasts at least 90 s), --json FILE.
 * Everything listens on 127.0.0.1; every loop is bounded in count and in time.
 */
import type { Message } from "../protocol/messages.ts";
import { V8_FLAGS } from "../server/config.ts";
import { RequestFailed, signIn, TestClient } from "../tests/helpers.ts";
import { type ServerProcess, spawnServer } from "../tests/process.ts";
import { RecoveringClient } from "../tests/recovering_client.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;
const ROOMS = ["general", "soak-a", "soak-b"];

export interface SoakOptions {
  /** How long the traffic runs. */
  seconds: number;
  clients: number;
  seed: number;
  /** Server restarts, spread evenly over the run. */
  restarts: number;
  /** Allowed RSS growth over one server life after warm-up, MiB (plus `growthShare`). */
  growthMiB: number;
  /** ... or this share of the post-warm-up RSS, whichever is larger. */
  growthShare: number;
  /** Progress lines on stderr. */
  verbose: boolean;
}

export const SMOKE: SoakOptions = {
  seconds: 21,
  clients: 6,
  seed: 7,
  restarts: 2,
  growthMiB: 64,
  growthShare: 0.5,
  verbose: false,
};

export const FULL: SoakOptions = {
  seconds: 600,
  clients: 12,
  seed: 20261202,
  restarts: 2,
  growthMiB: 24,
  growthShare: 0.15,
  verbose: true,
};

/** One server process's memory over its life. */
export interface Life {
  signal: "SIGTERM" | "SIGKILL" | "end";
  seconds: number;
  /** RSS samples, MiB, one a second. */
  samples: number[];
  /** Median of the first window after warm-up, and of the last window. */
  startMiB: number;
  endMiB: number;
  maxMiB: number;
  /** Least-squares slope after warm-up, MiB per minute. */
  slopeMiBPerMin: number;
  growthMiB: number;
  boundMiB: number;
}

export interface SoakResult {
  ok: boolean;
  failures: string[];
  options: SoakOptions;
  seconds: number;
  sent: number;
  acked: number;
  drops: number;
  reconnects: number;
  kicks: number;
  restarts: { signal: string; at: number }[];
  stored: Record<string, number>;
  lives: Life[];
}

/** mulberry32: small, fast and good enough to make the chaos repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process's resident set in MiB, or null once it is gone. */
async function rssMiB(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = Number(status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS once a second until stopped. */
class Sampler {
  readonly samples: number[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  constructor(pid: number) {
    const take = async () => {
      const mib = await rssMiB(pid);
      if (mib !== null) this.samples.push(mib);
    };
    take();
    this.#timer = setInterval(take, 1000);
  }
  stop(): number[] {
    clearInterval(this.#timer);
    return this.samples;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : 0;
};

/** Judge one life: drop the warm-up, compare the first and last windows, fit a slope. */
export function judge(
  samples: number[],
  signal: Life["signal"],
  options: Pick<SoakOptions, "growthMiB" | "growthShare">,
): Life {
  // Warm-up: a third of the life, 45 to 90 s (under steady load RSS climbs for about 40 s,
  // then levels off). A life too short for that (the smoke's) is judged on its last two thirds.
  const warm = Math.min(90, Math.max(45, Math.floor(samples.length / 3)));
  const steady = samples.length >= warm + 10
    ? samples.slice(warm)
    : samples.slice(Math.floor(samples.length / 3));
  const window = Math.max(1, Math.min(10, Math.floor(steady.length / 3)));
  const startMiB = median(steady.slice(0, window));
  const endMiB = median(steady.slice(-window));
  const n = steady.length;
  const meanX = (n - 1) / 2;
  const meanY = steady.reduce((a, b) => a + b, 0) / Math.max(1, n);
  let num = 0;
  let den = 0;
  steady.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  const perSecond = den ? num / den : 0;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    signal,
    seconds: samples.length,
    samples: samples.map(round),
    startMiB: round(startMiB),
    endMiB: round(endMiB),
    maxMiB: round(Math.max(0, ...samples)),
    slopeMiBPerMin: round(perSecond * 60),
    growthMiB: round(endMiB - startMiB),
    boundMiB: round(Math.max(options.growthMiB, startMiB * options.growthShare)),
  };
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const random = prng(options.seed);
  const say = (line: string) => options.verbose && console.error(`soak: ${line}`);
  const dir = await Deno.makeTempDir({ prefix: "parley-soak-" });
  const flags = [
    // As `deno task start` runs it, the idle collection's --expose-gc included.
    `--v8-flags=${V8_FLAGS.join(",")}`,
    SERVER,
    "--data",
    dir,
    "--password-cost",
    "12",
    "--message-rate",
    "100000",
    "--message-burst",
    "100000",
  ];
  const failures: string[] = [];
  const lives: Life[] = [];
  const restarts: SoakResult["restarts"] = [];
  let server: ServerProcess = await spawnServer(flags);
  let sampler = new Sampler(server.pid);
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  let sent = 0;
  let drops = 0;
  let kicks = 0;
  const clients: RecoveringClient[] = [];
  let admin: TestClient | null = null;
  let adminIdentity: Awaited<ReturnType<typeof signIn>> | null = null;

  /** The admin's socket, opened (again) when needed; null while the server is away. */
  async function adminSocket(): Promise<TestClient | null> {
    if (admin?.socket.readyState === WebSocket.OPEN) return admin;
    try {
      admin = await TestClient.open(server, adminIdentity!);
      return admin;
    } catch {
      return null;
    }
  }

  async function reconnect(c: RecoveringClient): Promise<void> {
    if (c.connected) return;
    try {
      await c.connect();
    } catch (error) {
      // A timeline that contradicts itself is a finding, not a network hiccup.
      if (String(error).includes("names two entries")) throw error;
      c.drop(); // half-connected (the server went away mid-recovery): try again next round
    }
  }

  try {
    // The first account on a fresh server is its admin; it makes the rooms.
    adminIdentity = await signIn(server, "soak-admin");
    const a = await adminSocket();
    for (const room of ROOMS.slice(1)) await a!.request("room.create", { room, topic: "soak" });
    for (let i = 0; i < options.clients; i++) {
      clients.push(await RecoveringClient.create(server, `soaker${i}`, ROOMS));
    }
    for (const c of clients) await c.connect();

    const restartAt = Array.from(
      { length: options.restarts },
      (_, i) => started + ((i + 1) * options.seconds * 1000) / (options.restarts + 1),
    );
    let nextKick = Date.now() + 3000;
    let lastReport = Date.now();
    for (let round = 0; Date.now() < deadline && round < 1_000_000; round++) {
      // Restart: SIGTERM (a graceful shutdown) and SIGKILL in turn, on the same data.
      if (restartAt.length && Date.now() >= restartAt[0]!) {
        restartAt.shift();
        const signal = restarts.length % 2 === 0 ? "SIGTERM" : "SIGKILL";
        say(`restart ${restarts.length + 1} with ${signal}`);
        await server.stop(signal);
        lives.push(judge(sampler.stop(), signal, options));
        restarts.push({ signal, at: Math.round((Date.now() - started) / 1000) });
        server = await spawnServer(flags);
        sampler = new Sampler(server.pid);
        for (const c of clients) c.server = server;
        admin = null;
      }
      // Mixed traffic: each client a small burst, some dropped mid-burst.
      const work: Promise<unknown>[] = [];
      for (const c of clients) {
        if (!c.connected) continue;
        const burst = Math.floor(random() * 4);
        for (let i = 0; i < burst; i++) {
          const room = ROOMS[Math.floor(random() * ROOMS.length)]!;
          work.push(c.send(room, `r${round} ${sent}`));
          sent++;
        }
        if (random() < 0.04) {
          const delay = random() * 5;
          work.push(sleep(delay).then(() => c.drop()));
          drops++;
        }
      }
      // Now and then an admin kicks someone from a room; they come back.
      if (Date.now() >= nextKick) {
        nextKick = Date.now() + 2000 + random() * 4000;
        const victim = clients[Math.floor(random() * clients.length)]!;
        const room = ROOMS[Math.floor(random() * ROOMS.length)]!;
        const socket = await adminSocket();
        if (socket && victim.connected) {
          try {
            await socket.request("room.kick", { room, user: victim.user.id, reason: "soak" });
            kicks++;
            victim.drop();
          } catch {
            // The victim had left, or the server is restarting: no kick this time.
          }
        }
      }
      await Promise.race([Promise.allSettled(work), sleep(10_000)]);
      for (const c of clients) await reconnect(c);
      await sleep(50 + random() * 100);
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        const rss = sampler.samples.at(-1)?.toFixed(1);
        const acked = clients.reduce((n, c) => n + c.acked.size, 0);
        say(
          `${Math.round((Date.now() - started) / 1000)} s: ${sent} sent, ${acked} acked, ` +
            `${drops} drops, ${kicks} kicks, RSS ${rss} MiB`,
        );
      }
    }

    // Catch-up: everyone reconnects and resends until nothing is outstanding (bounded).
    const catchUp = Date.now() + 60_000;
    while (clients.some((c) => c.outbox.size > 0 || !c.connected) && Date.now() < catchUp) {
      for (const c of clients) {
        await reconnect(c);
        if (c.connected && c.outbox.size > 0) await c.flush();
      }
      await sleep(100);
    }
    lives.push(judge(sampler.stop(), "end", options));
    const pending = clients.reduce((n, c) => n + c.outbox.size, 0);
    if (pending > 0) failures.push(`${pending} messages never acknowledged`);

    // History: read every room whole, as a fresh reader, at the pace the frame limit allows.
    const reader = await TestClient.connect(server, "soak-reader");
    const page = async (room: string, after: number) => {
      for (let attempt = 0;; attempt++) {
        try {
          return await reader.request("history", { room, after, limit: 100 });
        } catch (error) {
          if (!(error instanceof RequestFailed && error.code === "rate_limited") || attempt > 50) {
            throw error;
          }
          await sleep(200);
        }
      }
    };
    const stored: Record<string, number> = {};
    const byNonce = new Map<string, { room: string; seq: number }>();
    for (const room of ROOMS) {
      await reader.request("room.join", { room, limit: 0 });
      const entries: Message[] = [];
      for (let pages = 0; pages < 100_000; pages++) {
        const after = entries.at(-1)?.seq ?? 0;
        const got = await page(room, after);
        entries.push(...got.messages);
        if (!got.hasMore || got.messages.length === 0) break;
      }
      stored[room] = entries.length;
      // Each client's own copy agrees with the store, entry for entry.
      for (const c of clients) {
        for (const [seq, m] of c.timeline.get(room) ?? []) {
          if (entries[seq - 1]?.id !== m.id) {
            failures.push(`${room}: a client's seq ${seq} differs`);
          }
        }
      }
      entries.forEach((m, i) => {
        if (m.seq !== i + 1) failures.push(`${room}: seq ${m.seq} at position ${i + 1} (a gap)`);
      });
      for (const m of entries) {
        if (m.kind !== "text" || !m.nonce) continue;
        const key = `${m.author.id}\n${m.nonce}`;
        if (byNonce.has(key)) failures.push(`${room}: ${m.nonce} stored twice`);
        byNonce.set(key, { room, seq: m.seq });
      }
    }
    await reader.close();
    let acked = 0;
    for (const c of clients) {
      for (const [nonce, seq] of c.acked) {
        acked++;
        const found = byNonce.get(`${c.user.id}\n${nonce}`);
        if (!found) failures.push(`acknowledged ${nonce} is not in history`);
        else if (found.seq !== seq) {
          failures.push(`${nonce} acked at ${seq}, stored at ${found.seq}`);
        }
      }
    }
    if (acked !== sent) failures.push(`${sent} sent but ${acked} acknowledged`);
    for (const [i, life] of lives.entries()) {
      if (life.growthMiB > life.boundMiB) {
        failures.push(
          `server life ${i + 1}: RSS grew ${life.growthMiB} MiB after warm-up ` +
            `(${life.startMiB} -> ${life.endMiB}), over the ${life.boundMiB} MiB bound`,
        );
      }
    }
    return {
      ok: failures.length === 0,
      failures: failures.slice(0, 50),
      options,
      seconds: Math.round((Date.now() - started) / 1000),
      sent,
      acked,
      drops,
      reconnects: clients.reduce((n, c) => n + c.reconnects, 0),
      kicks,
      restarts,
      stored,
      lives,
    };
  } finally {
    sampler.stop();
    await (admin as TestClient | null)?.close().catch(() => {});
    for (const c of clients) await c.close().catch(() => {});
    await server.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The figures a person reads: counts, then each server life's memory. */
export function summary(result: SoakResult): string {
  const lines = [
    `soak ${result.ok ? "passed" : "FAILED"}: ${result.seconds} s, ${result.options.clients} ` +
    `clients, seed ${result.options.seed}`,
    `  ${result.sent} sent, ${result.acked} acknowledged, stored ${
      Object.entries(result.stored).map(([r, n]) => `${r} ${n}`).join(", ")
    }`,
    `  ${result.drops} drops, ${result.reconnects} reconnects, ${result.kicks} kicks, restarts: ${
      result.restarts.map((r) => `${r.signal} at ${r.at} s`).join(", ") || "none"
    }`,
  ];
  for (const [i, life] of result.lives.entries()) {
    lines.push(
      `  server life ${i + 1} (${life.seconds} s, ended by ${life.signal}): RSS after warm-up ` +
        `${life.startMiB} -> ${life.endMiB} MiB (max ${life.maxMiB}), ` +
        `slope ${life.slopeMiBPerMin} MiB/min, growth ${life.growthMiB} MiB ` +
        `(bound ${life.boundMiB})`,
    );
  }
  for (const failure of result.failures) lines.push(`  failure: ${failure}`);
  return lines.join("\n");
}

function parseArgs(args: string[]): { options: SoakOptions; json?: string } {
  const options = { ...(args.includes("--smoke") ? SMOKE : FULL) };
  let json: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = Number(args[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} wants a positive number`);
      return v;
    };
    if (arg === "--smoke") continue;
    else if (arg === "--minutes") options.seconds = Math.round(value() * 60);
    else if (arg === "--seconds") options.seconds = Math.round(value());
    else if (arg === "--clients") options.clients = Math.round(value());
    else if (arg === "--seed") options.seed = Math.round(value());
    else if (arg === "--growth-mib") options.growthMiB = value();
    else if (arg === "--restarts") options.restarts = Math.round(value());
    else if (arg === "--json") json = args[++i];
    else throw new Error(`unknown flag ${arg}`);
  }
  // Each server life lasts at least 90 s, so that there is a steady state after warm-up.
  if (!args.includes("--smoke")) {
    options.restarts = Math.max(
      0,
      Math.min(options.restarts, Math.floor(options.seconds / 90) - 1),
    );
  }
  return { options, ...(json ? { json } : {}) };
}

if (import.meta.main) {
  const { options, json } = parseArgs(Deno.args);
  const result = await runSoak(options);
  console.log(summary(result));
  if (json) await Deno.writeTextFile(json, JSON.stringify(result, null, 2) + "\n");
  Deno.exit(result.ok ? 0 : 1);
}
