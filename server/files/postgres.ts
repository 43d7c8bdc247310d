/**
 * A FileStore in PostgreSQL, so every process sharing the database serves every file.
 * Bytes are rows of at most 256 KiB (`parley_file_chunks`), written as they stream in;
 * a file's row (`parley_files`) says `complete` only once every chunk is in, and only
 * complete files are visible. A failed or oversized upload removes what it wrote; one cut
 * short by a crash is removed by a later start. Deleting a file's row cascades to its
 * chunks. The tables are made here, idempotently under an advisory lock, apart from the
 * store's migrations.
 */
import { connect, type ConnectOptions, outage, type Sql } from "../store/postgres_schema.ts";
import { chunked, isFileId } from "./bytes.ts";
import type { FileStore, StoredFile } from "./types.ts";

export const CHUNK_BYTES = 256 * 1024;
/** Any number, the same in every process, other than the store's migration lock. */
const SCHEMA_LOCK = 7_243_950_113;
/** An incomplete upload older than this was cut short by a crash. */
const ABANDONED_MS = 24 * 60 * 60 * 1000;

const SCHEMA = `
  SELECT pg_advisory_xact_lock(${SCHEMA_LOCK});
  CREATE TABLE IF NOT EXISTS parley_files (
    id text PRIMARY KEY,
    room text COLLATE "C" NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    size int8 NOT NULL DEFAULT 0,
    width int,
    height int,
    uploader text NOT NULL,
    created_at int8 NOT NULL,
    complete boolean NOT NULL DEFAULT false
  );
  CREATE INDEX IF NOT EXISTS parley_files_room ON parley_files (room);
  CREATE TABLE IF NOT EXISTS parley_file_chunks (
    id text NOT NULL REFERENCES parley_files (id) ON DELETE CASCADE,
    n int NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (id, n)
  );
`;

interface FileRow {
  id: string;
  room: string;
  name: string;
  type: string;
  size: number;
  width: number | null;
  height: number | null;
  uploader: string;
  created_at: number;
}

export class PostgresFileStore implements FileStore {
  readonly #sql: Sql;

  private constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Connect to `url` (the store's), make the tables if missing, drop abandoned uploads. */
  static async open(url: string, options: ConnectOptions = {}): Promise<PostgresFileStore> {
    const sql = connect(url, { max: 4, ...options });
    try {
      await sql.unsafe(SCHEMA).simple();
      await sql`DELETE FROM parley_files
        WHERE NOT complete AND created_at < ${Date.now() - ABANDONED_MS}::int8`;
      return new PostgresFileStore(sql);
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw outage(error);
    }
  }

  async put(
    meta: Omit<StoredFile, "size">,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
  ): Promise<StoredFile> {
    if (!isFileId(meta.id)) throw new Error(`not a file id: ${meta.id}`);
    const sql = this.#sql;
    let size = 0;
    let started = false;
    try {
      await sql`INSERT INTO parley_files (id, room, name, type, width, height, uploader,
          created_at)
        VALUES (${meta.id}, ${meta.room}, ${meta.name}, ${meta.type}, ${meta.width ?? null},
          ${meta.height ?? null}, ${meta.uploader}, ${meta.createdAt}::int8)`;
      started = true;
      let n = 0;
      for await (const piece of chunked(body, CHUNK_BYTES, maxBytes)) {
        await sql`INSERT INTO parley_file_chunks (id, n, data) VALUES (${meta.id}, ${n++},
          ${piece})`;
        size += piece.byteLength;
      }
      const done = await sql`UPDATE parley_files SET complete = true, size = ${size}::int8
        WHERE id = ${meta.id}`;
      // Its room was deleted while it streamed in.
      if (done.count !== 1) throw new Error(`file ${meta.id} vanished while being stored`);
      return { ...meta, size };
    } catch (error) {
      if (started) await sql`DELETE FROM parley_files WHERE id = ${meta.id}`.catch(() => {});
      throw outage(error);
    }
  }

  async info(id: string): Promise<StoredFile | null> {
    if (!isFileId(id)) return null;
    try {
      const [row] = await this.#sql<FileRow[]>`SELECT id, room, name, type, size, width, height,
          uploader, created_at
        FROM parley_files WHERE id = ${id} AND complete`;
      return row ? fileOf(row) : null;
    } catch (error) {
      throw outage(error);
    }
  }

  async open(id: string): Promise<{ file: StoredFile; body: ReadableStream<Uint8Array> } | null> {
    const file = await this.info(id);
    if (!file) return null;
    const sql = this.#sql;
    const count = Math.ceil(file.size / CHUNK_BYTES);
    let n = 0;
    // One chunk in memory at a time, read when the response wants it.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (n >= count) {
          controller.close();
          return;
        }
        const [row] = await sql<{ data: Uint8Array }[]>`SELECT data FROM parley_file_chunks
          WHERE id = ${id} AND n = ${n++}`;
        if (!row) {
          controller.error(new Error(`file ${id} lost a chunk (its room was deleted?)`));
          return;
        }
        controller.enqueue(new Uint8Array(row.data));
      },
    }, { highWaterMark: 0 });
    return { file, body };
  }

  async deleteRoom(room: string): Promise<void> {
    try {
      await this.#sql`DELETE FROM parley_files WHERE room = ${room}`;
    } catch (error) {
      throw outage(error);
    }
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}

function fileOf(row: FileRow): StoredFile {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    size: Number(row.size),
    ...(row.width ? { width: row.width } : {}),
    ...(row.height ? { height: row.height } : {}),
    room: row.room,
    uploader: row.uploader,
    createdAt: Number(row.created_at),
  };
}
