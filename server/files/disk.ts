/**
 * A FileStore in the data directory, beside the Deno KV database:
 *
 *   DATA/files/rooms/<room>/<id>   the bytes
 *   DATA/files/ids/<id>.json       the metadata; a file exists once this does
 *   DATA/files/tmp/                uploads under way (leftovers over an hour old are
 *                                  removed at start: workers may share the directory)
 *
 * Each file is written to tmp, fsync'd, then renamed into place, bytes first and the
 * metadata last: a crash leaves no half file visible, only leftovers in tmp (removed by a
 * later start) or bytes without metadata (never served).
 */
import { join } from "node:path";
import { chunked, isFileId } from "./bytes.ts";
import type { FileStore, StoredFile } from "./types.ts";

const PIECE = 256 * 1024;
const STALE_TMP_MS = 60 * 60 * 1000;

export class DiskFileStore implements FileStore {
  readonly #root: string;

  private constructor(root: string) {
    this.#root = root;
  }

  /** Open (creating) `dir`, usually DATA/files; what a crash left in tmp is removed. */
  static async open(dir: string): Promise<DiskFileStore> {
    for (const sub of ["rooms", "ids", "tmp"]) {
      await Deno.mkdir(join(dir, sub), { recursive: true });
    }
    // Another worker on this directory may be writing; only old leftovers are a crash's.
    const stale = Date.now() - STALE_TMP_MS;
    for await (const entry of Deno.readDir(join(dir, "tmp"))) {
      const path = join(dir, "tmp", entry.name);
      const stat = await Deno.stat(path).catch(() => null);
      if (stat && (stat.mtime?.getTime() ?? 0) < stale) await Deno.remove(path).catch(() => {});
    }
    return new DiskFileStore(dir);
  }

  async put(
    meta: Omit<StoredFile, "size">,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
  ): Promise<StoredFile> {
    if (!isFileId(meta.id)) throw new Error(`not a file id: ${meta.id}`);
    const temp = join(this.#root, "tmp", `${meta.id}.${crypto.randomUUID()}`);
    const roomDir = join(this.#root, "rooms", roomDirName(meta.room));
    let size = 0;
    try {
      const out = await Deno.open(temp, { write: true, createNew: true });
      try {
        for await (const piece of chunked(body, PIECE, maxBytes)) {
          await writeAll(out, piece);
          size += piece.byteLength;
        }
        await out.sync();
      } finally {
        out.close();
      }
      await Deno.mkdir(roomDir, { recursive: true });
      await Deno.rename(temp, join(roomDir, meta.id));
      await syncDir(roomDir);
      const file: StoredFile = { ...meta, size };
      await writeDurably(
        join(this.#root, "tmp", `${meta.id}.json.${crypto.randomUUID()}`),
        join(this.#root, "ids", `${meta.id}.json`),
        new TextEncoder().encode(JSON.stringify(file)),
      );
      return file;
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  async info(id: string): Promise<StoredFile | null> {
    if (!isFileId(id)) return null;
    try {
      return JSON.parse(await Deno.readTextFile(join(this.#root, "ids", `${id}.json`)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async open(id: string): Promise<{ file: StoredFile; body: ReadableStream<Uint8Array> } | null> {
    const file = await this.info(id);
    if (!file) return null;
    try {
      const handle = await Deno.open(join(this.#root, "rooms", roomDirName(file.room), id));
      return { file, body: handle.readable };
    } catch (error) {
      // Its room was deleted between the two reads.
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async deleteRoom(room: string): Promise<void> {
    const dir = join(this.#root, "rooms", roomDirName(room));
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!isFileId(entry.name)) continue;
        await Deno.remove(join(this.#root, "ids", `${entry.name}.json`)).catch(() => {});
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A room name as one path segment: never "", ".", ".." or anything with a separator. */
function roomDirName(room: string): string {
  return "r" + encodeURIComponent(room).replaceAll(".", "%2E");
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
}

/** Write `bytes` to `temp`, fsync, rename over `path`, fsync the directory. */
async function writeDurably(temp: string, path: string, bytes: Uint8Array): Promise<void> {
  try {
    const out = await Deno.open(temp, { write: true, createNew: true });
    try {
      await writeAll(out, bytes);
      await out.sync();
    } finally {
      out.close();
    }
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDir(join(path, ".."));
}

/** Make a rename durable: fsync its directory (where the platform allows it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Windows cannot open a directory; the rename is as durable as it gets there.
  }
}
