/** Linux /proc readers: CPU time and memory of a process, and facts about the machine. */

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux we run on. */
const CLK_TCK = 100;

/** utime + stime of `pid` in milliseconds, or null when it cannot be read. */
export function cpuMs(pid: number, statPath = `/proc/${pid}/stat`): number | null {
  try {
    const stat = Deno.readTextFileSync(statPath);
    // The command name may hold spaces and parentheses; fields are counted after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or null. */
export function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time per thread name (main "deno", "tokio-runtime-w", the KV thread...) in ms. */
export function threadCpuMs(pid: number): Map<string, number> {
  const totals = new Map<string, number>();
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const tid = Number(task.name);
      const ms = cpuMs(tid, `/proc/${pid}/task/${tid}/stat`);
      if (ms === null) continue;
      let name = "?";
      try {
        name = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/comm`).trim();
      } catch { /* the thread is gone */ }
      // The main thread is named after the process; tell it from same-named helpers.
      if (tid === pid) name = `${name} (main)`;
      totals.set(name, (totals.get(name) ?? 0) + ms);
    }
  } catch { /* the process is gone */ }
  return totals;
}

/** Per-thread-name CPU over a window, as shares of one core (threads that exit are lost). */
export function threadMeter(pid: number): () => Record<string, number> {
  const before = threadCpuMs(pid);
  const t0 = performance.now();
  return () => {
    const wallMs = performance.now() - t0;
    const shares: Record<string, number> = {};
    for (const [name, ms] of threadCpuMs(pid)) {
      const used = ms - (before.get(name) ?? 0);
      if (used > 0 && wallMs > 0) shares[name] = used / wallMs;
    }
    return shares;
  };
}

/** CPU use of a process over a window: start it, then `stop()` gives the share of one core. */
export function cpuMeter(pid: number): () => { cpuMs: number; wallMs: number; share: number } {
  const cpu0 = cpuMs(pid) ?? 0;
  const t0 = performance.now();
  return () => {
    const used = (cpuMs(pid) ?? cpu0) - cpu0;
    const wallMs = performance.now() - t0;
    return { cpuMs: used, wallMs, share: wallMs > 0 ? used / wallMs : 0 };
  };
}

/** Busy CPU time of the whole machine (every core) in ms, from /proc/stat. */
export function machineBusyMs(): number | null {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const total = t.slice(0, 8).reduce((a, b) => a + b, 0);
    return ((total - t[3]! - t[4]!) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Busy CPU time of each core in ms (cpu0, cpu1, ...), from /proc/stat; [] if unreadable. */
export function coreBusyMs(): number[] {
  try {
    return Deno.readTextFileSync("/proc/stat").split("\n")
      .filter((line) => /^cpu\d+ /.test(line))
      .map((line) => {
        const t = line.trim().split(/\s+/).slice(1).map(Number);
        const total = t.slice(0, 8).reduce((a, b) => a + b, 0);
        return ((total - t[3]! - t[4]!) * 1000) / CLK_TCK;
      });
  } catch {
    return [];
  }
}

/** Polls VmRSS every `everyMs` and keeps the highest value seen. */
export function rssPeakSampler(pid: number, everyMs = 50): { stop(): number } {
  let peak = statusBytes(pid, "VmRSS") ?? 0;
  const timer = setInterval(() => {
    const rss = statusBytes(pid, "VmRSS");
    if (rss !== null && rss > peak) peak = rss;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const rss = statusBytes(pid, "VmRSS");
      return rss !== null && rss > peak ? rss : peak;
    },
  };
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  deno: string;
  v8: string;
  os: string;
  ephemeralPorts: string;
  taskset: boolean;
}

export function machine(taskset: boolean): Machine {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const meminfo = read("/proc/meminfo");
  return {
    nproc: navigator.hardwareConcurrency,
    cpuModel: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown",
    memoryBytes: Number(meminfo.match(/^MemTotal:\s+(\d+) kB/m)?.[1] ?? 0) * 1024,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${read("/proc/sys/kernel/osrelease").trim()}`,
    ephemeralPorts: read("/proc/sys/net/ipv4/ip_local_port_range").trim().replace(/\s+/, "-"),
    taskset,
  };
}

/** The size of the ephemeral port range (outgoing connections per destination). */
export function ephemeralPortCount(): number {
  try {
    const [low, high] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range")
      .trim().split(/\s+/).map(Number);
    return high! - low! + 1;
  } catch {
    return 28_232; // Linux's default range 32768-60999
  }
}
