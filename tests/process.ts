/** Run Parley as a real child process and find the port it chose. */
export interface ServerProcess {
  /** The child's process id, e.g. to sample its memory from /proc. */
  pid: number;
  url: string;
  wsUrl: string;
  port: number;
  /** Everything the process wrote to stderr so far. */
  log(): string;
  /** Send a signal and wait for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Send a signal without waiting; false when the process is gone. */
  signal(signal: Deno.Signal): boolean;
}

export async function spawnServer(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args, "--port", "0", "--hostname", "127.0.0.1"],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const reader = child.stderr.getReader();
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no listening line in time:\n${text}`)),
      options.timeoutMs ?? 60_000,
    );
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        const match = text.match(/listening on http:\/\/[^:]+:(\d+)\//);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      }
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${text}`));
    })().catch(reject);
  });
  // Keep draining stderr so the child never blocks on a full pipe.
  const drained = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return {
    pid: child.pid,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    log: () => text,
    signal(signal: Deno.Signal) {
      try {
        child.kill(signal);
        return true;
      } catch {
        return false;
      }
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      const status = await child.status;
      await drained;
      return status.code;
    },
  };
}

/** Run a command to completion and capture its output. */
export async function runDeno(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
