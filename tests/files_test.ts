/**
 * File sharing over a real server on port 0: uploads (who may, the cap, sniffing, rate),
 * downloads (who may, the headers), sending a file in a message, room deletion, the
 * --max-upload-mb flag, and two processes sharing PostgreSQL.
 */
import assert from "node:assert/strict";
import type { FileRef } from "../protocol/messages.ts";
import { PROTOCOL_VERSIONS } from "../protocol/limits.ts";
import { ConfigError, parseConfig } from "../server/config.ts";
import { contentDisposition, fileName, parseRange } from "../server/files/routes.ts";
import { signIn, startServer, TestClient, type TestServer } from "./helpers.ts";
import { spawnServer } from "./process.ts";
import { rawRequest } from "./support/raw_http.ts";
import { postgresMissing, sharedPostgres } from "./support/postgres.ts";

const CAP = 256 * 1024;

/** A PNG's signature and IHDR (width x height), then `extra` bytes of nothing much. */
function png(width: number, height: number, extra = 100): Uint8Array<ArrayBuffer> {
  const be = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const head = [
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...be(13),
    ...new TextEncoder().encode("IHDR"),
    ...be(width),
    ...be(height),
    8,
    6,
    0,
    0,
    0,
  ];
  const bytes = new Uint8Array(head.length + extra);
  bytes.set(head);
  for (let i = head.length; i < bytes.length; i++) bytes[i] = i % 256;
  return bytes;
}

interface UploadOptions {
  name?: string;
  type?: string;
  cookie?: string;
  token?: string;
  origin?: string | null;
}

function upload(
  server: { url: string },
  room: string,
  body: BodyInit,
  { name = "file.bin", type, cookie, token, origin }: UploadOptions,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (cookie) headers.cookie = cookie;
  if (token) headers.authorization = `Bearer ${token}`;
  if (origin !== null) headers.origin = origin ?? server.url;
  if (type) headers["content-type"] = type;
  return fetch(`${server.url}/api/rooms/${room}/files?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers,
    body,
  });
}

async function uploaded(response: Response): Promise<FileRef> {
  const text = await response.text();
  assert.equal(response.status, 201, text);
  return JSON.parse(text).file;
}

function download(server: { url: string }, ref: FileRef, cookie?: string): Promise<Response> {
  return fetch(`${server.url}/files/${ref.id}/${encodeURIComponent(ref.name)}`, {
    headers: cookie ? { cookie } : {},
  });
}

async function errorCode(response: Response): Promise<string> {
  const body = await response.json().catch(() => ({}));
  return body?.error?.code;
}

/** A server with a small cap, and ada (owner) and bob (member) in #pics. */
async function withRoom(
  fn: (s: {
    server: TestServer;
    ada: TestClient;
    bob: TestClient;
    adaCookie: string;
    bobCookie: string;
  }) => Promise<void>,
  overrides: Parameters<typeof startServer>[0] = {},
): Promise<void> {
  const server = await startServer({ maxUploadBytes: CAP, ...overrides });
  const adaId = await signIn(server, "ada");
  const bobId = await signIn(server, "bob");
  const ada = await TestClient.open(server, adaId);
  const bob = await TestClient.open(server, bobId);
  try {
    await ada.request("room.create", { room: "pics", topic: "" });
    await ada.request("room.join", { room: "pics" });
    await bob.request("room.join", { room: "pics" });
    await fn({ server, ada, bob, adaCookie: adaId.cookie, bobCookie: bobId.cookie });
  } finally {
    await ada.close();
    await bob.close();
    await server.close();
  }
}

Deno.test("files: a member uploads; the type is sniffed, not claimed; another member downloads it with safe headers", async () => {
  await withRoom(async ({ server, adaCookie, bobCookie }) => {
    const bytes = png(640, 480, 5000);
    const ref = await uploaded(
      await upload(server, "pics", bytes, {
        name: "cät.png",
        type: "text/html",
        cookie: adaCookie,
      }),
    );
    assert.match(ref.id, /^[A-Za-z0-9_-]{24}$/);
    assert.deepEqual({ ...ref, id: "" }, {
      id: "",
      name: "cät.png",
      type: "image/png",
      size: bytes.length,
      width: 640,
      height: 480,
    });
    const response = await download(server, ref, bobCookie);
    assert.equal(response.status, 200);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
    const h = response.headers;
    assert.equal(h.get("content-type"), "image/png");
    assert.equal(h.get("content-length"), String(bytes.length));
    assert.equal(h.get("x-content-type-options"), "nosniff");
    assert.equal(
      h.get("content-disposition"),
      `inline; filename="c_t.png"; filename*=UTF-8''c%C3%A4t.png`,
    );
    assert.equal(h.get("content-security-policy"), "default-src 'none'; sandbox");
    assert.match(h.get("cache-control") ?? "", /^private, max-age=\d+$/);
    // Asked again with its ETag: 304, still only for members.
    const again = await fetch(`${server.url}/files/${ref.id}/x`, {
      headers: { cookie: bobCookie, "if-none-match": h.get("etag")! },
    });
    assert.equal(again.status, 304);
    await again.body?.cancel();
  });
});

Deno.test("files: HTML claimed as image/png is served as text/plain, as an attachment; binary as octet-stream", async () => {
  await withRoom(async ({ server, adaCookie, bobCookie }) => {
    const html = "<!doctype html><script>alert(document.cookie)</script>";
    const ref = await uploaded(
      await upload(server, "pics", html, { name: "x.png", type: "image/png", cookie: adaCookie }),
    );
    assert.equal(ref.type, "text/plain");
    assert.equal(ref.width, undefined);
    const response = await download(server, ref, bobCookie);
    assert.equal(await response.text(), html);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(response.headers.get("content-disposition")!, /^attachment; /);
    assert.equal(response.headers.get("content-security-policy"), "default-src 'none'; sandbox");
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>';
    const svgRef = await uploaded(
      await upload(server, "pics", svg, {
        name: "a.svg",
        type: "image/svg+xml",
        cookie: adaCookie,
      }),
    );
    assert.equal(svgRef.type, "text/plain");
    const binary = await uploaded(
      await upload(server, "pics", new Uint8Array([0, 1, 2, 0xff, 0]), { cookie: adaCookie }),
    );
    assert.equal(binary.type, "application/octet-stream");
    const got = await download(server, binary, bobCookie);
    assert.match(got.headers.get("content-disposition")!, /^attachment; filename="file.bin"/);
    await got.body?.cancel();
  });
});

Deno.test("files: signed out 401, foreign or missing Origin 403, non-members and announcement members 403", async () => {
  await withRoom(async ({ server, ada, adaCookie }) => {
    const signedOut = await upload(server, "pics", "hi", {});
    assert.equal(signedOut.status, 401);
    assert.equal(await errorCode(signedOut), "unauthorized");
    const foreign = await upload(server, "pics", "hi", {
      cookie: adaCookie,
      origin: "http://evil.example",
    });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    const noOrigin = await upload(server, "pics", "hi", { cookie: adaCookie, origin: null });
    assert.equal(noOrigin.status, 403);
    assert.equal(await errorCode(noOrigin), "origin_required");
    // carol is signed in but never joined #pics.
    const carol = await signIn(server, "carol");
    const outsider = await upload(server, "pics", "hi", { cookie: carol.cookie });
    assert.equal(outsider.status, 403);
    assert.equal(await errorCode(outsider), "forbidden");
    const missing = await upload(server, "nowhere", "hi", { cookie: adaCookie });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    // In an announcement room only moderators post, so only they upload.
    await ada.request("room.create", { room: "news", topic: "", kind: "announcement" });
    await ada.request("room.join", { room: "news" });
    const dave = await TestClient.open(server, await signIn(server, "dave"));
    try {
      await dave.request("room.join", { room: "news" });
      const cookie = (await signIn(server, "dave")).cookie;
      const member = await upload(server, "news", "hi", { cookie });
      assert.equal(member.status, 403);
      assert.equal(await errorCode(member), "forbidden");
      await uploaded(await upload(server, "news", "hi", { cookie: adaCookie }));
    } finally {
      await dave.close();
    }
  });
});

Deno.test("files: a bearer token (a bot) uploads without Origin", async () => {
  await withRoom(async ({ server }) => {
    const response = await fetch(`${server.url}/api/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "bob", password: "bob-correct-horse-battery" }),
    });
    const { token } = await response.json();
    const ref = await uploaded(await upload(server, "pics", "report", { token, origin: null }));
    assert.equal(ref.type, "text/plain");
    const got = await fetch(`${server.url}/files/${ref.id}/x`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(await got.text(), "report");
  });
});

Deno.test("files: over the cap is 413 file_too_large, by Content-Length at once and when streamed", async () => {
  await withRoom(async ({ server, adaCookie }) => {
    const exact = await upload(server, "pics", new Uint8Array(CAP), { cookie: adaCookie });
    assert.equal((await uploaded(exact)).size, CAP);
    const declared = await upload(server, "pics", new Uint8Array(CAP + 1), { cookie: adaCookie });
    assert.equal(declared.status, 413);
    assert.equal(await errorCode(declared), "file_too_large");
    // A head claiming a gigabyte is refused before any of it is sent.
    const raw = await rawRequest(server.port, [
      `POST /api/rooms/pics/files?name=big HTTP/1.1`,
      `Host: 127.0.0.1:${server.port}`,
      `Origin: ${server.url}`,
      `Cookie: ${adaCookie}`,
      "Content-Length: 1000000000",
    ], { timeoutMs: 5000 });
    assert.equal(raw.status, 413);
    assert.ok(raw.ms < 2000, `answered in ${raw.ms} ms`);
    // Chunked: no length to judge by, so the count stops it.
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 4 * CAP) return controller.close();
        sent += 16 * 1024;
        controller.enqueue(new Uint8Array(16 * 1024).fill(65));
      },
    });
    const streamed = await upload(server, "pics", stream, { cookie: adaCookie });
    assert.equal(streamed.status, 413);
    assert.equal(await errorCode(streamed), "file_too_large");
  });
});

Deno.test("files: a byte Range is served 206 (seeking in media); past the end 416", async () => {
  await withRoom(async ({ server, adaCookie, bobCookie }) => {
    const bytes = png(1, 1, 100_000);
    const ref = await uploaded(await upload(server, "pics", bytes, { cookie: adaCookie }));
    const get = (range: string) =>
      fetch(`${server.url}/files/${ref.id}/x`, { headers: { cookie: bobCookie, range } });
    const part = await get("bytes=70000-70009");
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 70000-70009/${bytes.length}`);
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(70000, 70010));
    const tail = await get("bytes=-5");
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), bytes.subarray(-5));
    const beyond = await get(`bytes=${bytes.length}-`);
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get("content-range"), `bytes */${bytes.length}`);
    await beyond.body?.cancel();
    const several = await get("bytes=0-1,5-6");
    assert.equal(several.status, 200, "several ranges: the whole file");
    assert.equal((await several.arrayBuffer()).byteLength, bytes.length);
  });
  assert.deepEqual(parseRange("bytes=0-", 10), { start: 0, end: 9 });
  assert.deepEqual(parseRange("bytes=5-100", 10), { start: 5, end: 9 });
  assert.deepEqual(parseRange("bytes=-100", 10), { start: 0, end: 9 });
  assert.equal(parseRange("bytes=10-", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=5-2", 10), null);
  assert.equal(parseRange("items=0-1", 10), null);
  assert.equal(parseRange(null, 10), null);
});

Deno.test("files: downloads are 404 to non-members and for unknown ids, 401 signed out", async () => {
  await withRoom(async ({ server, adaCookie }) => {
    const ref = await uploaded(await upload(server, "pics", "secret", { cookie: adaCookie }));
    const carol = await signIn(server, "carol");
    const outsider = await download(server, ref, carol.cookie);
    assert.equal(outsider.status, 404);
    assert.equal(await errorCode(outsider), "file_not_found");
    const unknown = await download(server, { ...ref, id: "A".repeat(24) }, adaCookie);
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    const malformed = await fetch(`${server.url}/files/..%2F..%2Fetc/passwd`, {
      headers: { cookie: adaCookie },
    });
    assert.equal(malformed.status, 404);
    await malformed.body?.cancel();
    const signedOut = await download(server, ref);
    assert.equal(signedOut.status, 401);
    await signedOut.body?.cancel();
    const owner = await download(server, ref, adaCookie);
    assert.equal(await owner.text(), "secret");
  });
});

Deno.test("files: a file sent in a message reaches the room, and another member downloads it", async () => {
  await withRoom(async ({ server, ada, bob, adaCookie, bobCookie }) => {
    const bytes = png(2, 3);
    const ref = await uploaded(
      await upload(server, "pics", bytes, { name: "dot.png", cookie: adaCookie }),
    );
    const pushed = bob.next((f) => f.type === "message" && f.message.room === "pics");
    const sent = await ada.request("send", {
      room: "pics",
      text: "look",
      nonce: crypto.randomUUID(),
      file: ref.id,
    });
    assert.deepEqual(sent.message.kind === "text" && sent.message.file, ref);
    const frame = await pushed;
    assert.ok(frame.type === "message" && frame.message.kind === "text");
    const shown = frame.message.file!;
    assert.deepEqual(shown, ref);
    const response = await download(server, shown, bobCookie);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
  });
});

Deno.test("files: deleting the room deletes its files", async () => {
  await withRoom(async ({ server, ada, adaCookie }) => {
    const ref = await uploaded(await upload(server, "pics", "gone soon", { cookie: adaCookie }));
    assert.ok(await server.app.files.info(ref.id));
    await ada.request("room.delete", { room: "pics" });
    const response = await download(server, ref, adaCookie);
    assert.equal(response.status, 404);
    await response.body?.cancel();
    assert.equal(await server.app.files.info(ref.id), null);
  });
});

Deno.test("files: uploads spend a budget per user (429 with Retry-After)", async () => {
  await withRoom(async ({ server, adaCookie }) => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await upload(server, "pics", `n${i}`, { cookie: adaCookie });
      statuses.push(response.status);
      if (response.status === 429) assert.ok(Number(response.headers.get("retry-after")) >= 1);
      await response.body?.cancel();
    }
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(201));
    assert.equal(statuses.at(-1), 429);
  });
});

Deno.test("files: hello's limits carry uploadBytes; --max-upload-mb 0 refuses every upload", async () => {
  await withRoom(async ({ server, adaCookie }) => {
    const client = await TestClient.open(server, await signIn(server, "erin"), { hello: false });
    const hello = await client.request("hello", { v: [...PROTOCOL_VERSIONS] });
    assert.equal(hello.limits.uploadBytes, 0);
    await client.close();
    const refused = await upload(server, "pics", "hi", { cookie: adaCookie });
    assert.equal(refused.status, 403);
    assert.equal(await errorCode(refused), "forbidden");
  }, { maxUploadBytes: 0 });
  await withRoom(async ({ server }) => {
    const client = await TestClient.open(server, await signIn(server, "erin"), { hello: false });
    const hello = await client.request("hello", { v: [...PROTOCOL_VERSIONS] });
    assert.equal(hello.limits.uploadBytes, CAP);
    await client.close();
  });
});

Deno.test("files: --max-upload-mb and PARLEY_MAX_UPLOAD_MB take MiB, 10 by default", () => {
  const parse = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseConfig(args, (name) => env[name]);
    assert.ok(!parsed.help);
    return parsed.config.maxUploadBytes;
  };
  assert.equal(parse([]), 10 * 1024 * 1024);
  assert.equal(parse(["--max-upload-mb", "0"]), 0);
  assert.equal(parse(["--max-upload-mb", "2.5"]), 2.5 * 1024 * 1024);
  assert.equal(parse([], { PARLEY_MAX_UPLOAD_MB: "1" }), 1024 * 1024);
  assert.equal(parse(["--max-upload-mb", "3"], { PARLEY_MAX_UPLOAD_MB: "1" }), 3 * 1024 * 1024);
  assert.throws(() => parse(["--max-upload-mb", "-1"]), ConfigError);
  assert.throws(() => parse(["--max-upload-mb", "lots"]), ConfigError);
  assert.throws(() => parse(["--max-upload-mb", ""]), ConfigError);
});

Deno.test("files: names are cut to their last segment and encoded per RFC 6266/5987", () => {
  assert.equal(fileName("../../etc/passwd"), "passwd");
  assert.equal(fileName("C:\\Users\\ada\\report.pdf"), "report.pdf");
  assert.equal(fileName("a\nb\u0000c.txt"), "abc.txt");
  assert.equal(fileName(null), "file");
  assert.equal(fileName(".."), "file");
  assert.equal([...fileName("é".repeat(500))].length, 200);
  assert.equal(
    contentDisposition("attachment", `résumé "final" (1).pdf`),
    `attachment; filename="r_sum_ _final_ (1).pdf"; ` +
      `filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%20%281%29.pdf`,
  );
});

const pgMissing = postgresMissing();

Deno.test({
  name: `files: a file uploaded to one process is served by another sharing PostgreSQL${
    pgMissing ? ` (skipped: ${pgMissing})` : ""
  }`,
  ignore: pgMissing !== null,
  // The child processes and the cluster outlive single ops; each is stopped below.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await sharedPostgres();
    if (!pg) throw new Error("unreachable: ignored without PostgreSQL");
    const db = await pg.createDatabase();
    const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const flags = (dir: string) => [
      new URL("../server.ts", import.meta.url).pathname,
      "--store",
      db.url,
      "--data",
      dir,
      "--password-cost",
      "10",
      "--max-upload-mb",
      "1",
    ];
    const a = await spawnServer(flags(dirs[0]!));
    const b = await spawnServer(flags(dirs[1]!));
    const clients: TestClient[] = [];
    try {
      await signIn(a, "root"); // the first account is the admin; not ada or bob
      const adaId = await signIn(a, "ada");
      const ada = await TestClient.open(a, adaId);
      clients.push(ada);
      await ada.request("room.create", { room: "shared", topic: "" });
      await ada.request("room.join", { room: "shared" });
      const bobId = await signIn(b, "bob");
      const bob = await TestClient.open(b, bobId);
      clients.push(bob);
      await bob.request("room.join", { room: "shared" });
      const bytes = png(7, 9, 600_000); // three chunks
      const ref = await uploaded(
        await upload(a, "shared", bytes, { name: "big.png", cookie: adaId.cookie }),
      );
      assert.equal(ref.width, 7);
      const response = await download(b, ref, bobId.cookie);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "image/png");
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
      // Nothing of it on either process's disk: the bytes live in PostgreSQL.
      for (const dir of dirs) {
        const names = [];
        for await (const entry of Deno.readDir(dir)) names.push(entry.name);
        assert.ok(!names.includes("files"), `${dir} holds ${names}`);
      }
    } finally {
      for (const client of clients) await client.close();
      await a.stop("SIGKILL");
      await b.stop("SIGKILL");
      await db.drop();
      for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
