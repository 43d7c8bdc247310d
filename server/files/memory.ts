/** A FileStore in this process's memory: for `--store memory`, `:memory:` and tests. */
import { chunked } from "./bytes.ts";
import type { FileStore, StoredFile } from "./types.ts";

const PIECE = 64 * 1024;

export class MemoryFileStore implements FileStore {
  readonly #files = new Map<string, { file: StoredFile; pieces: Uint8Array[] }>();

  async put(
    meta: Omit<StoredFile, "size">,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
  ): Promise<StoredFile> {
    const pieces: Uint8Array[] = [];
    let size = 0;
    for await (const piece of chunked(body, PIECE, maxBytes)) {
      pieces.push(piece);
      size += piece.byteLength;
    }
    const file: StoredFile = { ...meta, size };
    this.#files.set(file.id, { file, pieces });
    return structuredClone(file);
  }

  info(id: string): Promise<StoredFile | null> {
    const entry = this.#files.get(id);
    return Promise.resolve(entry ? structuredClone(entry.file) : null);
  }

  open(id: string): Promise<{ file: StoredFile; body: ReadableStream<Uint8Array> } | null> {
    const entry = this.#files.get(id);
    if (!entry) return Promise.resolve(null);
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = entry.pieces[i++];
        if (piece) controller.enqueue(piece.slice());
        else controller.close();
      },
    }, { highWaterMark: 0 });
    return Promise.resolve({ file: structuredClone(entry.file), body });
  }

  deleteRoom(room: string): Promise<void> {
    for (const [id, entry] of this.#files) {
      if (entry.file.room === room) this.#files.delete(id);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
