/**
 * The FileStore port: uploaded files' bytes and metadata, kept beside the Store (never in
 * KV values, which cap at 64 KiB). Adapters: memory, the data directory on disk, and
 * PostgreSQL (chunked, so every instance sharing the database serves every file).
 */
import type { FileRef } from "../../protocol/messages.ts";

/** A file as stored: what messages show, plus where it belongs and who sent it. */
export interface StoredFile extends FileRef {
  room: string;
  /** User id of the uploader; only they may attach it to a message. */
  uploader: string;
  createdAt: number;
}

export interface FileStore {
  /**
   * Store `body` under `meta.id`; resolves once the bytes are durable. Rejects with
   * ProtocolError `file_too_large` (keeping nothing) when it passes `maxBytes`.
   */
  put(
    meta: Omit<StoredFile, "size">,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
  ): Promise<StoredFile>;
  info(id: string): Promise<StoredFile | null>;
  /** The file and a stream of its bytes; null when there is none. */
  open(id: string): Promise<{ file: StoredFile; body: ReadableStream<Uint8Array> } | null>;
  /** Remove every file of a deleted room. */
  deleteRoom(room: string): Promise<void>;
  close(): Promise<void>;
}
