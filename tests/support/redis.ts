/**
 * A throwaway redis-server for tests: its own port, no persistence, gone after `stop()`.
 * Returns null where redis-server is not installed; callers then register their redis
 * cases with `ignore` and print `REDIS_MISSING`, so a missing server never passes silently.
 */

export interface RedisServer {
  url: string;
  port: number;
  /** Kill the server (as a crash would) and keep its port for `resume`. Data is lost. */
  pause(): Promise<void>;
  /** Start a fresh server on the same port and wait until it answers. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const BINARY = Deno.env.get("REDIS_SERVER") ?? "redis-server";

/** Why redis cases are ignored, or null when redis-server can be run. */
export const REDIS_MISSING: string | null = await (async () => {
  try {
    const { success } = await new Deno.Command(BINARY, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? null : `${BINARY} --version failed`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `${BINARY} is not installed`;
    throw error;
  }
})();

export async function startRedis(): Promise<RedisServer | null> {
  if (REDIS_MISSING) return null;
  const dir = await Deno.makeTempDir({ prefix: "parley-redis-" });
  const port = freePort();
  let child: Deno.ChildProcess | null = null;

  const spawn = async () => {
    child = new Deno.Command(BINARY, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--logfile",
        "redis.log",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const exited = child.status;
    try {
      await untilPong(port, exited);
    } catch (error) {
      await kill();
      const log = await Deno.readTextFile(`${dir}/redis.log`).catch(() => "");
      throw new Error(`redis-server on port ${port} did not start: ${error}\n${log}`);
    }
  };

  const kill = async () => {
    const running: Deno.ChildProcess | null = child;
    child = null;
    if (!running) return;
    try {
      running.kill("SIGKILL");
    } catch {
      // Already exited; its status below still has to be awaited.
    }
    await running.status;
  };

  await spawn().catch(async (error) => {
    await Deno.remove(dir, { recursive: true });
    throw error;
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause: kill,
    resume: spawn,
    async stop() {
      await kill();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A port nothing listens on right now (the kernel picks it; we release it at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function untilPong(port: number, exited: Promise<Deno.CommandStatus>): Promise<void> {
  let done = false;
  const gone = exited.then((status) => {
    done = true;
    return status;
  });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (done) throw new Error(`exited with code ${(await gone).code}`);
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("no PONG within 5 s");
}

async function ping(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | null = null;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}
