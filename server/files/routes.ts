/**
 * File routes:
 *
 *   POST /api/rooms/:room/files?name=…   the raw bytes as the body -> 201 {file: FileRef}
 *   GET  /files/:id/:name                 the bytes, to members of the file's room
 *
 * The bot API (api/bots.ts) authenticates its keys itself and hands its own upload and
 * download routes to `upload` and `download` here, with the bot's Principal, so bots get
 * exactly the same checks.
 *
 * Uploads are authenticated like the rest of /api (the router checks Origin first), need
 * the right to post in the room, spend an upload budget, and stop at the size cap: by
 * Content-Length at once, or as soon as a streamed body passes it. The type is sniffed
 * from the bytes (sniff.ts), never taken from the client. Downloads answer 404 to anyone
 * who may not read the room, so ids cannot be probed, and carry nosniff, a sandboxing
 * Content-Security-Policy, and Content-Disposition: inline for raster images only; a
 * single byte Range is served (206), for seeking in audio and video.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS } from "../../protocol/limits.ts";
import type { FileRef } from "../../protocol/messages.ts";
import type { Principal } from "../auth/types.ts";
import type { RouteExtension } from "../http.ts";
import type { Hub } from "../hub.ts";
import type { Logger } from "../log.ts";
import type { Rate, RateLimiter } from "../rate/types.ts";
import { json } from "../reply.ts";
import { isFileId, newFileId, tooLarge } from "./bytes.ts";
import { INLINE_TYPES, sniff, SNIFF_BYTES, TEXT_PLAIN } from "./sniff.ts";
import type { FileStore, StoredFile } from "./types.ts";

/** Uploads per user: a file a second, ten at once (a dropped folder); guests a tenth. */
export const UPLOAD_RATES = {
  users: { perSecond: 1, burst: 10 },
  guests: { perSecond: 0.1, burst: 2 },
};

/** How long a browser may reuse a file it fetched (it is private to the user). */
const MAX_AGE_S = 3600;

export interface FileRoutesDeps {
  hub: Hub;
  files: FileStore;
  /** Largest upload in bytes; 0 refuses every upload. */
  maxBytes: number;
  /** Where upload budgets are counted (the cluster's, with Redis). */
  limiter: RateLimiter;
  rates?: { users: Rate; guests: Rate };
  log: Logger;
  now?: () => number;
}

const UPLOAD_PATH = /^\/api\/rooms\/([^/]+)\/files$/;
const DOWNLOAD_PATH = /^\/files\/([^/]+)\/([^/]*)$/;
/** The bot API's upload route (api/bots.ts): its body is bytes too. */
const BOT_UPLOAD_PATH = /^\/api\/v1\/rooms\/[^/]+\/files$/;

/** Whether the router should hand `path` to the file routes (before its JSON-only check). */
export function isFilePath(path: string): boolean {
  return UPLOAD_PATH.test(path) || path.startsWith("/files/");
}

/** Whether `path` takes raw bytes, not JSON: the router skips its JSON-only check for it. */
export function takesBytes(path: string): boolean {
  return UPLOAD_PATH.test(path) || BOT_UPLOAD_PATH.test(path);
}

export function fileRoutes(deps: FileRoutesDeps): RouteExtension {
  const routes = new FileRoutes(deps);
  return (request, context) => routes.route(request, context);
}

type Context = Parameters<RouteExtension>[1];

/**
 * The file routes, and their upload and download for callers that authenticate their own
 * way (the bot API): each answers as the browser routes do, errors included.
 */
export class FileRoutes {
  readonly #deps: FileRoutesDeps;
  readonly #now: () => number;

  constructor(deps: FileRoutesDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async route(request: Request, context: Context): Promise<Response | null> {
    const upload = UPLOAD_PATH.exec(context.path);
    if (upload) {
      if (request.method !== "POST") return notAllowed("POST");
      return await this.#answer(() => this.#upload(request, context, decode(upload[1]!)));
    }
    const download = DOWNLOAD_PATH.exec(context.path);
    if (download || context.path.startsWith("/files/")) {
      if (request.method !== "GET" && request.method !== "HEAD") return notAllowed("GET, HEAD");
      const id = download ? decode(download[1]!) : "";
      return await this.#answer(() => this.#download(request, context, id));
    }
    return null;
  }

  async #answer(fn: () => Promise<Response>): Promise<Response> {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      const status = STATUS[error.code] ?? 400;
      const body = {
        error: {
          code: error.code,
          message: error.message,
          ...(error.permission === undefined ? {} : { permission: error.permission }),
          ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        },
      };
      const headers: Record<string, string> = error.retryAfterMs === undefined
        ? {}
        : { "retry-after": String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))) };
      return json(status, body, headers);
    }
  }

  /**
   * Upload the request's body to `room` as `principal`: the browser route's checks (the
   * cap, the right to post, membership, mutes, the upload budget) and its answers.
   */
  async upload(request: Request, principal: Principal, room: string): Promise<Response> {
    return await this.#answer(() => this.#uploadAs(request, principal, room));
  }

  /**
   * Serve file `id` to `principal` as the browser route does (members of its room only);
   * `mayRoom`, when given, narrows the rooms further (an API key's scope): any other room's
   * file is 404 too.
   */
  async download(
    request: Request,
    principal: Principal,
    id: string,
    mayRoom?: (room: string) => boolean,
  ): Promise<Response> {
    return await this.#answer(() => this.#downloadAs(request, principal, id, mayRoom));
  }

  // ---- upload ---------------------------------------------------------------------------------

  async #upload(request: Request, context: Context, room: string): Promise<Response> {
    const principal = await context.principal();
    if (!principal) {
      await request.body?.cancel();
      return json(401, { error: { code: "unauthorized", message: "Not signed in." } });
    }
    return await this.#uploadAs(request, principal, room);
  }

  async #uploadAs(request: Request, principal: Principal, room: string): Promise<Response> {
    const { files, maxBytes, log } = this.#deps;
    if (maxBytes <= 0) {
      await request.body?.cancel();
      throw new ProtocolError("forbidden", "This server takes no uploads.");
    }
    const declared = request.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBytes) {
      await request.body?.cancel();
      throw tooLarge(maxBytes);
    }
    await this.#mayPost(principal, room);
    await this.#spend(principal);
    const name = fileName(new URL(request.url).searchParams.get("name"));
    const { head, complete, rest } = await readHead(request.body, maxBytes);
    const sniffed = sniff(head, complete);
    const stored = await files.put(
      {
        id: newFileId(),
        name,
        type: sniffed.type,
        ...(sniffed.width ? { width: sniffed.width } : {}),
        ...(sniffed.height ? { height: sniffed.height } : {}),
        room,
        uploader: principal.user.id,
        createdAt: this.#now(),
      },
      rest,
      maxBytes,
    );
    // The room may have been deleted while the bytes streamed in; its files go with it.
    if (!(await this.#deps.hub.store.getRoom(room))) {
      await files.deleteRoom(room);
      throw new ProtocolError("room_not_found", `No room named "${room}".`);
    }
    log.info("file uploaded", { room, user: principal.user.id, size: stored.size });
    return json(201, { file: fileRef(stored) });
  }

  /** What `send` in the room needs, but without a joined socket: the REST caller has none. */
  async #mayPost(principal: Principal, room: string): Promise<void> {
    const { hub } = this.#deps;
    const record = await hub.access.room(room);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${room}".`);
    if (record.disabled) throw new ProtocolError("forbidden", `#${room} is disabled.`);
    const userId = principal.user.id;
    const member = await hub.store.isMember(room, userId);
    const standing = await hub.access.standing(record, userId, principal.role, member);
    if (!member && standing.kind !== "dm") {
      throw new ProtocolError(
        "forbidden",
        `Join #${room} to share files there.`,
        undefined,
        "send",
      );
    }
    hub.access.require("send", standing, room);
    if (standing.mute) {
      const until = standing.mute.until;
      throw new ProtocolError(
        "forbidden",
        `You are muted in #${room}.`,
        until === null ? undefined : Math.max(0, until - this.#now()),
        "send",
      );
    }
  }

  async #spend(principal: Principal): Promise<void> {
    const rates = this.#deps.rates ?? UPLOAD_RATES;
    const rate = principal.role === "guest" ? rates.guests : rates.users;
    const wait = await this.#deps.limiter.take(`upload:${principal.user.id}`, rate);
    if (wait > 0) {
      throw new ProtocolError("rate_limited", "Too many uploads; slow down.", wait);
    }
  }

  // ---- download -------------------------------------------------------------------------------

  async #download(request: Request, context: Context, id: string): Promise<Response> {
    const principal = await context.principal();
    if (!principal) {
      return json(401, { error: { code: "unauthorized", message: "Not signed in." } });
    }
    return await this.#downloadAs(request, principal, id);
  }

  async #downloadAs(
    request: Request,
    principal: Principal,
    id: string,
    mayRoom?: (room: string) => boolean,
  ): Promise<Response> {
    const info = isFileId(id) ? await this.#deps.files.info(id) : null;
    if (!info || (mayRoom && !mayRoom(info.room)) || !(await this.#mayRead(principal, info))) {
      return notFound();
    }
    const etag = `"${info.id}"`;
    const headers = downloadHeaders(info, etag);
    if (request.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    const ifRange = request.headers.get("if-range");
    const range = ifRange === null || ifRange === etag
      ? parseRange(request.headers.get("range"), info.size)
      : null;
    if (range === "unsatisfiable") {
      headers.set("content-range", `bytes */${info.size}`);
      headers.delete("content-length");
      return new Response(null, { status: 416, headers });
    }
    if (range) {
      headers.set("content-range", `bytes ${range.start}-${range.end}/${info.size}`);
      headers.set("content-length", String(range.end - range.start + 1));
    }
    const status = range ? 206 : 200;
    if (request.method === "HEAD") return new Response(null, { status, headers });
    const opened = await this.#deps.files.open(id);
    if (!opened) return notFound();
    const body = range ? slice(opened.body, range.start, range.end) : opened.body;
    return new Response(body, { status, headers });
  }

  /** Members of the file's room (both people of a direct message), while it is usable. */
  async #mayRead(principal: Principal, file: StoredFile): Promise<boolean> {
    const { hub } = this.#deps;
    const record = await hub.access.room(file.room);
    if (!record || record.disabled) return false;
    const userId = principal.user.id;
    if (!(await hub.store.isMember(file.room, userId))) return false;
    const standing = await hub.access.standing(record, userId, principal.role, true);
    return !standing.ban && (record.kind !== "dm" || standing.peer === true);
  }
}

const STATUS: Partial<Record<string, number>> = {
  file_too_large: 413,
  forbidden: 403,
  room_not_found: 404,
  file_not_found: 404,
  rate_limited: 429,
  unauthorized: 401,
  unavailable: 503,
};

/** The headers of a download: the sniffed type, and nothing a browser could run. */
export function downloadHeaders(file: StoredFile, etag: string): Headers {
  const inline = INLINE_TYPES.has(file.type);
  return new Headers({
    "content-type": file.type === TEXT_PLAIN ? "text/plain; charset=utf-8" : file.type,
    "content-length": String(file.size),
    "content-disposition": contentDisposition(inline ? "inline" : "attachment", file.name),
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": `private, max-age=${MAX_AGE_S}`,
    "accept-ranges": "bytes",
    etag,
  });
}

/**
 * RFC 6266: an ASCII `filename` for old clients (anything else replaced by "_") and the
 * exact name as RFC 5987 `filename*`.
 */
export function contentDisposition(kind: "inline" | "attachment", name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** A name to show and save as: its last path segment, no control characters, bounded. */
export function fileName(given: string | null): string {
  const last = (given ?? "").split(/[/\\]/).pop() ?? "";
  // deno-lint-ignore no-control-regex
  const clean = last.replace(/[\x00-\x1f\x7f]/g, "").trim().toWellFormed();
  const bounded = [...clean].slice(0, LIMITS.fileNameChars).join("");
  return bounded === "" || bounded === "." || bounded === ".." ? "file" : bounded;
}

export function fileRef(file: StoredFile): FileRef {
  return {
    id: file.id,
    name: file.name,
    type: file.type,
    size: file.size,
    ...(file.width ? { width: file.width } : {}),
    ...(file.height ? { height: file.height } : {}),
  };
}

/**
 * The first SNIFF_BYTES of the body (fewer if it ends first), and a stream of the whole
 * body, head included, for the store. Past `maxBytes` already in the head: too large.
 */
async function readHead(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<{ head: Uint8Array; complete: boolean; rest: ReadableStream<Uint8Array> }> {
  const reader = (body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() }))
    .getReader();
  const pieces: Uint8Array[] = [];
  let length = 0;
  let complete = false;
  while (length < SNIFF_BYTES) {
    const { value, done } = await reader.read();
    if (done) {
      complete = true;
      break;
    }
    pieces.push(value);
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
  }
  const head = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    head.set(piece, at);
    at += piece.byteLength;
  }
  let sentHead = false;
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentHead) {
        sentHead = true;
        if (head.byteLength > 0) {
          controller.enqueue(head);
          return;
        }
      }
      if (complete) return controller.close();
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return { head: head.subarray(0, Math.min(length, SNIFF_BYTES)), complete, rest };
}

/**
 * One byte range of a file of `size` bytes (`bytes=a-b`, `bytes=a-`, `bytes=-n`); null to
 * send the whole file (no Range, several ranges, or one this does not read).
 */
export function parseRange(
  header: string | null,
  size: number,
): { start: number; end: number } | "unsatisfiable" | null {
  const match = header === null ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return null;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return "unsatisfiable";
  if (end < start) return null;
  return { start, end };
}

/** Bytes `start` to `end` (inclusive) of `body`; what comes after is never read. */
function slice(body: ReadableStream<Uint8Array>, start: number, end: number) {
  const reader = body.getReader();
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        const from = at;
        at += value.byteLength;
        if (at <= start) continue;
        controller.enqueue(value.subarray(Math.max(0, start - from), end + 1 - from));
        if (at > end) {
          controller.close();
          await reader.cancel().catch(() => {});
        }
        return;
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return "";
  }
}

function notFound(): Response {
  return json(404, { error: { code: "file_not_found", message: "No such file." } });
}

function notAllowed(allow: string): Response {
  return json(405, {
    error: { code: "method_not_allowed", message: `Use ${allow}.` },
  }, { allow });
}
