/**
 * One KV data directory, one process: processes that share a KV file but no Bus would
 * each deliver only their own clients' messages, a split nobody sees. A lock file held for
 * the process's life (the kernel drops it when the process dies, even by `kill -9`)
 * makes a second process refuse to start instead. Workers of one `deno serve --parallel`
 * process share a BroadcastChannel, so they may share the directory.
 */
import { join } from "node:path";

export class DataDirInUseError extends Error {
  override readonly name = "DataDirInUseError";
}

/** Hold the directory's lock until the returned function is called or the process ends. */
export async function lockDataDir(dir: string): Promise<() => void> {
  const path = join(dir, "parley.lock");
  const file = await Deno.open(path, { read: true, write: true, create: true });
  // Another worker of this process may hold it and not have written its pid yet.
  for (let attempt = 0; attempt < 20; attempt++) {
    if (await file.tryLock(true)) {
      await file.truncate(0);
      await file.write(new TextEncoder().encode(String(Deno.pid)));
      return () => file.close();
    }
    const holder = (await Deno.readTextFile(path)).trim();
    if (holder === String(Deno.pid)) {
      file.close();
      return () => {};
    }
    if (holder !== "") break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  file.close();
  throw new DataDirInUseError(
    `Another Parley process is using the data directory ${dir}. ` +
      "Processes that share a Deno KV store need a shared bus (--bus redis://…), or they " +
      "would not see each other's messages. Run one process per data directory, " +
      "`deno serve --parallel` for one per core, or --store postgres://… with --bus redis://….",
  );
}
