/**
 * The FileStore contract, over memory, the data directory and a real PostgreSQL (skipped,
 * saying why, where PostgreSQL is not installed); and the sniffer.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "../protocol/errors.ts";
import { CHUNK_BYTES, PostgresFileStore } from "../server/files/postgres.ts";
import { DiskFileStore } from "../server/files/disk.ts";
import { MemoryFileStore } from "../server/files/memory.ts";
import { chunked, isFileId, newFileId } from "../server/files/bytes.ts";
import { sniff } from "../server/files/sniff.ts";
import type { FileStore, StoredFile } from "../server/files/types.ts";
import { postgresMissing, sharedPostgres } from "./support/postgres.ts";

interface Subject {
  files: FileStore;
  /** A second handle on the same bytes (another process), where there is one. */
  reopen?: () => Promise<FileStore>;
  dispose?: () => Promise<void>;
}

function meta(room: string, extra: Partial<StoredFile> = {}): Omit<StoredFile, "size"> {
  return {
    id: newFileId(),
    name: "notes.txt",
    type: "text/plain",
    room,
    uploader: "u_ada",
    createdAt: 1_700_000_000_000,
    ...extra,
  };
}

/** A stream of `total` bytes (byte i is i % 251) in pieces of `piece`; counts what was read. */
function source(total: number, piece = 10_000): {
  body: ReadableStream<Uint8Array>;
  read: () => number;
} {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(piece, total - sent);
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (sent + i) % 251;
      sent += n;
      controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
  return { body, read: () => sent };
}

async function bytesOf(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function expected(total: number): Uint8Array {
  const bytes = new Uint8Array(total);
  for (let i = 0; i < total; i++) bytes[i] = i % 251;
  return bytes;
}

function fileStoreContract(
  name: string,
  open: () => Promise<Subject>,
  options: { ignore?: string; noSecondHandle?: string } = {},
): void {
  /** `skip`: why this case does not apply to this adapter. */
  const test = (title: string, fn: (subject: Subject) => Promise<void>, skip?: string) => {
    const why = options.ignore ?? skip;
    return Deno.test({
      name: `${name} file store: ${title}${why ? ` (skipped: ${why})` : ""}`,
      ignore: why !== undefined,
      fn: async () => {
        const subject = await open();
        try {
          await fn(subject);
        } finally {
          await subject.files.close();
          await subject.dispose?.();
        }
      },
    });
  };

  test("put, info and open round-trip bytes and metadata, across chunk boundaries", async ({ files }) => {
    for (const total of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES * 2 + 17]) {
      const m = meta("general", { width: 3, height: 4, type: "image/png", name: "a.png" });
      const stored = await files.put(m, source(total, 7777).body, 10 * CHUNK_BYTES);
      assert.deepEqual(stored, { ...m, size: total });
      assert.deepEqual(await files.info(m.id), stored);
      const opened = await files.open(m.id);
      assert.ok(opened);
      assert.deepEqual(opened.file, stored);
      assert.deepEqual(await bytesOf(opened.body), expected(total), `${total} bytes`);
    }
  });

  test("unknown and malformed ids name nothing", async ({ files }) => {
    assert.equal(await files.info(newFileId()), null);
    assert.equal(await files.open(newFileId()), null);
    assert.equal(await files.info("../../etc/passwd"), null);
    assert.equal(await files.open(""), null);
  });

  test("passing the cap rejects with file_too_large, keeps nothing and stops reading", async ({ files }) => {
    const m = meta("general");
    const src = source(5 * CHUNK_BYTES, 4096);
    await assert.rejects(
      files.put(m, src.body, CHUNK_BYTES + 5),
      (error) => error instanceof ProtocolError && error.code === "file_too_large",
    );
    assert.ok(src.read() < CHUNK_BYTES + 4096 + 4096, `read ${src.read()} bytes, not all`);
    assert.equal(await files.info(m.id), null);
    assert.equal(await files.open(m.id), null);
    // Exactly at the cap is fine.
    const ok = await files.put(meta("general"), source(1000).body, 1000);
    assert.equal(ok.size, 1000);
  });

  test("a body that fails midway keeps nothing", async ({ files }) => {
    const m = meta("general");
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ > 40) controller.error(new Error("client went away"));
        else controller.enqueue(new Uint8Array(10_000));
      },
    });
    await assert.rejects(files.put(m, body, 10 * CHUNK_BYTES), /went away/);
    assert.equal(await files.info(m.id), null);
  });

  test("deleteRoom removes that room's files and no other's", async ({ files }) => {
    const a1 = await files.put(meta("alpha"), source(100).body, 1000);
    const a2 = await files.put(meta("alpha"), source(CHUNK_BYTES + 1).body, 2 * CHUNK_BYTES);
    const b = await files.put(meta("beta"), source(100).body, 1000);
    await files.deleteRoom("alpha");
    assert.equal(await files.info(a1.id), null);
    assert.equal(await files.open(a2.id), null);
    assert.deepEqual(await files.info(b.id), b);
    await files.deleteRoom("alpha"); // again: nothing to do
    await files.deleteRoom("never-existed");
    // A room of the same name later starts empty, and can hold files again.
    const again = await files.put(meta("alpha"), source(10).body, 1000);
    assert.equal((await files.info(again.id))?.room, "alpha");
  });

  test("file names and rooms are kept as given (unicode, dots, quotes)", async ({ files }) => {
    const m = meta("dm-0123456789abcdef01234567", { name: 'Ünïcødé "q" ..\\x.pdf' });
    const stored = await files.put(m, source(3).body, 10);
    assert.equal((await files.info(m.id))?.name, m.name);
    assert.equal(stored.room, m.room);
  });

  test("another handle (process) sees files once put, and their removal", async (subject) => {
    assert.ok(subject.reopen, "an adapter with a second handle says how to open it");
    const other = await subject.reopen();
    try {
      const stored = await subject.files.put(meta("gamma"), source(3 * CHUNK_BYTES).body, 1e9);
      const opened = await other.open(stored.id);
      assert.ok(opened);
      assert.deepEqual(await bytesOf(opened.body), expected(3 * CHUNK_BYTES));
      await other.deleteRoom("gamma");
      assert.equal(await subject.files.info(stored.id), null);
    } finally {
      await other.close();
    }
  }, options.noSecondHandle);
}

fileStoreContract("memory", () => Promise.resolve({ files: new MemoryFileStore() }), {
  noSecondHandle: "a memory store has no second handle on the same data",
});

fileStoreContract("disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-files-" });
  return {
    files: await DiskFileStore.open(`${dir}/files`),
    reopen: () => DiskFileStore.open(`${dir}/files`),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
});

const pgMissing = postgresMissing();
fileStoreContract(
  "postgres",
  async () => {
    const server = await sharedPostgres();
    if (!server) throw new Error("unreachable: ignored without PostgreSQL");
    const db = await server.createDatabase();
    return {
      files: await PostgresFileStore.open(db.url),
      reopen: () => PostgresFileStore.open(db.url),
      dispose: db.drop,
    };
  },
  pgMissing ? { ignore: pgMissing } : {},
);

Deno.test({
  name: `postgres file store: two processes creating the tables at once both start${
    pgMissing ? ` (skipped: ${pgMissing})` : ""
  }`,
  ignore: pgMissing !== null,
  fn: async () => {
    const server = await sharedPostgres();
    if (!server) throw new Error("unreachable");
    const db = await server.createDatabase();
    try {
      const stores = await Promise.all([1, 2, 3].map(() => PostgresFileStore.open(db.url)));
      for (const store of stores) await store.close();
    } finally {
      await db.drop();
    }
  },
});

Deno.test("disk file store: a crash's leftovers are invisible, and old ones are removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-files-" });
  try {
    const files = await DiskFileStore.open(`${dir}/files`);
    const m = meta("general");
    // Bytes renamed into place but no metadata yet: a crash between the two renames.
    await Deno.mkdir(`${dir}/files/rooms/rgeneral`, { recursive: true });
    await Deno.writeFile(`${dir}/files/rooms/rgeneral/${m.id}`, new Uint8Array(5));
    assert.equal(await files.info(m.id), null);
    assert.equal(await files.open(m.id), null);
    const old = `${dir}/files/tmp/${m.id}.half`;
    const fresh = `${dir}/files/tmp/${newFileId()}.half`;
    await Deno.writeFile(old, new Uint8Array(5));
    await Deno.writeFile(fresh, new Uint8Array(5));
    await Deno.utime(old, new Date(0), new Date(0));
    await (await DiskFileStore.open(`${dir}/files`)).close();
    await assert.rejects(Deno.stat(old), Deno.errors.NotFound);
    await Deno.stat(fresh); // another worker's upload under way stays
    await files.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file ids: 24 URL-safe characters (144 random bits), all different", () => {
  const ids = new Set(Array.from({ length: 1000 }, newFileId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.ok(isFileId(id), id);
  assert.ok(!isFileId("short"));
  assert.ok(!isFileId("../aaaaaaaaaaaaaaaaaaaaaa"));
});

Deno.test("chunked: exact pieces, the last shorter, and the cap", async () => {
  const pieces: number[] = [];
  for await (const piece of chunked(source(2500, 333).body, 1000, 2500)) {
    pieces.push(piece.byteLength);
  }
  assert.deepEqual(pieces, [1000, 1000, 500]);
  await assert.rejects(async () => {
    for await (const _ of chunked(source(2501, 333).body, 1000, 2500)) { /* drain */ }
  }, (error) => error instanceof ProtocolError && error.code === "file_too_large");
});

// ---- sniffing ---------------------------------------------------------------------------

const enc = (text: string) => new TextEncoder().encode(text);
const cat = (...parts: (number[] | Uint8Array)[]) => {
  const out: number[] = [];
  for (const part of parts) out.push(...part);
  return new Uint8Array(out);
};

/** A minimal PNG header: signature and IHDR of width x height. */
function pngHeader(width: number, height: number): Uint8Array {
  const be = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return cat(
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    be(13),
    enc("IHDR"),
    be(width),
    be(height),
    [8, 6, 0, 0, 0],
    be(0),
  );
}

Deno.test("sniff: images and their sizes", () => {
  assert.deepEqual(sniff(pngHeader(640, 480)), { type: "image/png", width: 640, height: 480 });
  assert.deepEqual(sniff(cat(enc("GIF89a"), [0x20, 0x03, 0x58, 0x02, 0, 0])), {
    type: "image/gif",
    width: 800,
    height: 600,
  });
  // JPEG: SOI, an APP0 segment, then SOF0 with height 300 and width 400.
  const jpeg = cat(
    [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10],
    enc("JFIF\0"),
    [1, 1, 0, 0, 1, 0, 1, 0, 0],
    [0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x2c, 0x01, 0x90, 0x03],
    new Uint8Array(9),
  );
  assert.deepEqual(sniff(jpeg), { type: "image/jpeg", width: 400, height: 300 });
  const riff = (kind: string, body: number[]) =>
    cat(enc("RIFF"), [0, 0, 0, 0], enc("WEBP"), enc(kind), [0, 0, 0, 0], body);
  // VP8X: flags, 3 reserved, canvas 1024 x 768 (each minus one, 24-bit little-endian).
  assert.deepEqual(sniff(riff("VP8X", [0, 0, 0, 0, 0xff, 0x03, 0, 0xff, 0x02, 0])), {
    type: "image/webp",
    width: 1024,
    height: 768,
  });
  // VP8L: signature, then width-1 = 99 and height-1 = 49 in 14 bits each.
  const bits = 99 | (49 << 14);
  assert.deepEqual(
    sniff(riff("VP8L", [0x2f, bits & 255, (bits >> 8) & 255, (bits >> 16) & 255, 0])),
    { type: "image/webp", width: 100, height: 50 },
  );
  // VP8: frame tag, start code, 14-bit width 320 and height 240.
  assert.deepEqual(
    sniff(riff("VP8 ", [0, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00])),
    { type: "image/webp", width: 320, height: 240 },
  );
  assert.deepEqual(sniff(cat([0xff, 0xd8, 0xff])), { type: "image/jpeg" }, "truncated: no size");
});

Deno.test("sniff: documents, archives and media by magic bytes", () => {
  assert.equal(sniff(enc("%PDF-1.7\n")).type, "application/pdf");
  assert.equal(sniff(cat([0x50, 0x4b, 0x03, 0x04, 20, 0])).type, "application/zip");
  assert.equal(sniff(cat([0, 0, 0, 0x20], enc("ftypisom"))).type, "video/mp4");
  assert.equal(sniff(cat([0x1a, 0x45, 0xdf, 0xa3, 0x9f])).type, "video/webm");
  assert.equal(sniff(enc("OggS\0\x02")).type, "audio/ogg");
  assert.equal(sniff(cat(enc("ID3"), [4, 0, 0])).type, "audio/mpeg");
  assert.equal(sniff(cat(enc("RIFF"), [0, 0, 0, 0], enc("WAVEfmt "))).type, "audio/wav");
});

Deno.test("sniff: text is text/plain, markup included; binary is octet-stream", () => {
  assert.equal(sniff(enc("hello, wörld\n"), true).type, "text/plain");
  assert.equal(sniff(enc("<!doctype html><script>alert(1)</script>"), true).type, "text/plain");
  assert.equal(
    sniff(enc('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'), true).type,
    "text/plain",
  );
  assert.equal(sniff(enc("a\0b"), true).type, "application/octet-stream");
  assert.equal(sniff(cat([0xc3, 0x28]), true).type, "application/octet-stream");
  // A head cut inside a character is still text; a whole file ending so is not.
  assert.equal(sniff(cat(enc("abc"), [0xe2, 0x82]), false).type, "text/plain");
  assert.equal(sniff(cat(enc("abc"), [0xe2, 0x82]), true).type, "application/octet-stream");
  assert.equal(sniff(new Uint8Array(0), true).type, "application/octet-stream");
});
