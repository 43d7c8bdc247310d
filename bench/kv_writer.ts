/**
 * Scenario e's worker, run as its own (pinned) process: `senders` concurrent senders
 * append to a fresh Deno KV file on disk through Parley's KvStore for `duration` ms,
 * with group commit on or off. Prints one JSON line with the count and the rate.
 *
 *   deno run -A --unstable-kv bench/kv_writer.ts --mode grouped|single --duration 5000
 */
import { parseArgs } from "node:util";
import { KvStore } from "../server/store/kv.ts";
import { cpuMeter, threadMeter } from "./proc.ts";

export interface KvWriterResult {
  mode: "grouped" | "single";
  senders: number;
  rooms: number;
  committed: number;
  commits: number;
  elapsedMs: number;
  perSecond: number;
  cpuShare: number;
  /** CPU by thread name, shares of one core. */
  threads: Record<string, number>;
}

async function run(args: string[]): Promise<KvWriterResult> {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: "string", default: "grouped" },
      duration: { type: "string", default: "5000" },
      warmup: { type: "string", default: "500" },
      senders: { type: "string", default: "100" },
      rooms: { type: "string", default: "10" },
    },
  });
  const mode = values.mode === "single" ? "single" : "grouped";
  const senders = Number(values.senders);
  const roomCount = Number(values.rooms);
  const durationMs = Number(values.duration);
  const warmupMs = Number(values.warmup);
  const dir = await Deno.makeTempDir({ prefix: "parley-kv-bench-" });
  const store = await KvStore.open(`${dir}/parley.kv`, { groupCommit: mode === "grouped" });
  try {
    const rooms = Array.from({ length: roomCount }, (_, i) => `r${i}`);
    for (const name of rooms) await store.createRoom({ name, topic: "", createdBy: "bench" });
    const text = "The quick brown fox jumps over the lazy dog, message ";
    let counting = false;
    let committed = 0;
    let stop = false;
    const sender = async (i: number) => {
      const author = { id: `u_${i}`, name: `sender ${i}` };
      const room = rooms[i % rooms.length]!;
      for (let n = 0; !stop; n++) {
        await store.append({ kind: "text", room, author, text: text + n, nonce: `n${i}-${n}` });
        if (counting) committed++;
      }
    };
    const running = Array.from({ length: senders }, (_, i) => sender(i));
    await new Promise((r) => setTimeout(r, warmupMs));
    const commits0 = store.stats.commits;
    const meter = cpuMeter(Deno.pid);
    const threads = threadMeter(Deno.pid);
    counting = true;
    await new Promise((r) => setTimeout(r, durationMs));
    counting = false;
    const { wallMs, share } = meter();
    const byThread = threads();
    const commits = store.stats.commits - commits0;
    stop = true;
    await Promise.all(running);
    return {
      mode,
      senders,
      rooms: roomCount,
      committed,
      commits,
      elapsedMs: wallMs,
      perSecond: committed / (wallMs / 1000),
      cpuShare: share,
      threads: byThread,
    };
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) console.log(JSON.stringify(await run(Deno.args)));
