/**
 * The bot API: programs act through API keys that an admin issues, each scoped to rooms
 * and actions. A key acts as its own bot user, through a virtual hub connection, so the
 * hub applies exactly the permission checks it applies to people; the key's scope is
 * checked on top. The store keeps only each key's SHA-256. Bots upload and download files
 * through the browser's file code (files/routes.ts), as their bot user.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { CLOSE_CODES, ProtocolError } from "../../protocol/errors.ts";
import { LIMITS, ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import type { Member } from "../../protocol/messages.ts";
import { type Accounts, hash } from "../auth/accounts.ts";
import { bearerToken } from "../auth/authenticator.ts";
import type { Principal } from "../auth/types.ts";
import type { RouteExtension } from "../http.ts";
import type { Connection, Hub } from "../hub.ts";
import type { FileRoutes } from "../files/routes.ts";
import type { Logger } from "../log.ts";
import { MemoryRateLimiter } from "../rate/memory.ts";
import type { RateLimiter } from "../rate/types.ts";
import type { ApiKeyRecord, Repositories } from "../store/repositories.ts";
import { type BotFeatureContext, botFeatureRoute } from "./bots_features.ts";
import {
  type ApiAction,
  apiError,
  BanBody,
  CreateRoom,
  EditMessage,
  json,
  KeyCreate,
  noContent,
  openApiDocument,
  PostMessage,
  protocolFailure,
  readBody,
} from "./openapi.ts";

export interface BotApiDeps {
  hub: Hub;
  accounts: Accounts;
  /** Where API keys are kept: a Store has it. */
  store: Pick<Repositories, "apiKeys">;
  log: Logger;
  /** Requests per key, counted across every instance. */
  rate?: { perSecond: number; burst: number };
  /** The cluster's rate limiter, the same one sockets spend from. */
  limiter?: RateLimiter;
  /** The file routes' upload and download; without them bots get no uploads (403). */
  files?: Pick<FileRoutes, "upload" | "download">;
  /** A bot connection unused this long goes offline (it comes back on its next request). */
  idleMs?: number;
  now?: () => number;
}

type KeyRecord = ApiKeyRecord;

const DEFAULT_RATE = { perSecond: 10, burst: 30 };
const DEFAULT_IDLE_MS = 10 * 60 * 1000;
const LAST_USED_EVERY_MS = 60 * 1000;
const KEY_PATTERN = /^pk_([0-9a-f]{16})_([A-Za-z0-9_-]{32,64})$/;

export function botUserId(keyId: string): string {
  return `bot:${keyId}`;
}

/** The bot API's routes (`/api/v1/...`), key administration and `/api/openapi.json`. */
export function botApi(deps: BotApiDeps): RouteExtension {
  const api = new BotApi(deps);
  return (request, context) => api.route(request, context);
}

/** A bot as the hub sees it: a connection that needs no pushes (bots read history or hooks). */
class BotConnection implements Connection {
  readonly id = `bot-${crypto.randomUUID()}`;
  readonly principal: Principal;
  closed = false;
  lastUsed: number;

  constructor(
    readonly user: Member,
    readonly keyId: string,
    now: number,
    private readonly onClose: (conn: BotConnection) => void,
  ) {
    // A bot is an ordinary user to the permission checks: never an admin, never a guest.
    this.principal = { user, role: "user", via: "apikey" };
    this.lastUsed = now;
  }

  send(_data: string): void {}

  close(_code: number, _reason: string): void {
    this.closed = true;
    this.onClose(this);
  }
}

type Context = Parameters<RouteExtension>[1];

class BotApi {
  readonly #hub: Hub;
  readonly #accounts: Accounts;
  readonly #keys: Repositories["apiKeys"];
  readonly #log: Logger;
  readonly #rate: { perSecond: number; burst: number };
  readonly #idleMs: number;
  readonly #now: () => number;
  /** One connection per key on this instance, made on first use. */
  readonly #conns = new Map<string, Promise<BotConnection>>();
  readonly #limiter: RateLimiter;
  readonly #files: Pick<FileRoutes, "upload" | "download"> | undefined;
  readonly #lastUsedWritten = new Map<string, number>();
  #lastSweep = 0;
  #document: string | undefined;
  /** Reactions, search, threads and the directory (bots_features.ts). */
  readonly #features: BotFeatureContext;

  constructor(deps: BotApiDeps) {
    this.#hub = deps.hub;
    this.#accounts = deps.accounts;
    this.#keys = deps.store.apiKeys;
    this.#log = deps.log;
    this.#rate = deps.rate ?? DEFAULT_RATE;
    this.#limiter = deps.limiter ?? new MemoryRateLimiter(deps.now);
    this.#files = deps.files;
    this.#idleMs = deps.idleMs ?? DEFAULT_IDLE_MS;
    this.#now = deps.now ?? Date.now;
    this.#features = {
      hub: this.#hub,
      connection: (key) => this.#connection(key),
      joined: (key, room) => this.#joined(key, room),
      needs,
      scope,
      inScope,
    };
  }

  async route(request: Request, context: Context): Promise<Response | null> {
    const { path } = context;
    if (path === "/api/openapi.json") {
      if (request.method !== "GET" && request.method !== "HEAD") return null;
      this.#document ??= JSON.stringify(openApiDocument(), null, 2);
      return new Response(request.method === "HEAD" ? null : this.#document, {
        headers: { "content-type": "application/json", "cache-control": "no-cache" },
      });
    }
    if (path === "/api/admin/keys" || path.startsWith("/api/admin/keys/")) {
      return await this.#admin(request, path, context);
    }
    if (path.startsWith("/api/v1/")) return await this.#bot(request, path);
    return null;
  }

  // ---- key administration ---------------------------------------------------------------------

  async #admin(request: Request, path: string, context: Context): Promise<Response> {
    const principal = await context.principal();
    if (!principal) return apiError(401, "unauthorized", "Not signed in.");
    if (principal.role !== "admin") return apiError(403, "forbidden", "Server admins only.");
    const method = request.method;
    if (path === "/api/admin/keys") {
      if (method === "GET") {
        const keys = await this.#keys.list();
        return json(200, { keys: await Promise.all(keys.map((k) => this.#shown(k))) });
      }
      if (method === "POST") return await this.#issue(request, principal);
      return apiError(405, "method_not_allowed", "GET or POST.");
    }
    const id = /^\/api\/admin\/keys\/([0-9a-f]{16})$/.exec(path)?.[1];
    if (!id) return apiError(404, "not_found", "No such key.");
    if (method === "GET") {
      const record = await this.#keys.get(id);
      return record
        ? json(200, await this.#shown(record))
        : apiError(404, "not_found", "No such key.");
    }
    if (method === "DELETE") return await this.#revoke(id, principal);
    return apiError(405, "method_not_allowed", "GET or DELETE.");
  }

  async #issue(request: Request, principal: Principal): Promise<Response> {
    const body = await readBody(request, KeyCreate);
    if (!body.ok) return body.response;
    const id = randomBytes(8).toString("hex");
    const key = `pk_${id}_${randomBytes(32).toString("base64url")}`;
    const rooms = body.value.rooms.includes("*") ? ["*"] : [...new Set(body.value.rooms)];
    const record: KeyRecord = {
      id,
      name: body.value.name,
      rooms,
      actions: [...new Set(body.value.actions)],
      hash: hash(key),
      createdAt: this.#now(),
      createdBy: principal.user.id,
    };
    // The bot user exists before the key works, so people can find and invite it at once.
    await this.#accounts.upsertExternal(botUserId(id), record.name, "user");
    if (!(await this.#keys.create(record))) {
      return apiError(500, "internal", "Key id collision; try again.");
    }
    this.#log.info("api key issued", { key: id, name: record.name, by: principal.user.id });
    return json(201, { ...(await this.#shown(record)), key });
  }

  async #revoke(id: string, principal: Principal): Promise<Response> {
    const record = await this.#keys.take(id); // when it was last used goes with it
    if (!record) return apiError(404, "not_found", "No such key.");
    const userId = botUserId(id);
    // Its connections close on every instance; a disabled bot drops out of member lists.
    this.#hub.closeUser(userId, CLOSE_CODES.sessionRevoked, "API key revoked");
    if (await this.#accounts.get(userId)) await this.#accounts.update(userId, { disabled: true });
    this.#log.info("api key revoked", { key: id, by: principal.user.id });
    return noContent();
  }

  async #shown(record: KeyRecord): Promise<Record<string, unknown>> {
    const { hash: _, ...rest } = record;
    const lastUsedAt = await this.#keys.lastUsed(record.id);
    return {
      ...rest,
      user: { id: botUserId(record.id), name: record.name },
      ...(lastUsedAt === null ? {} : { lastUsedAt }),
    };
  }

  // ---- the bot routes ---------------------------------------------------------------------------

  async #bot(request: Request, path: string): Promise<Response> {
    const key = await this.#authenticate(request);
    if (!key) {
      return apiError(401, "unauthorized", "Bring a valid API key: Authorization: Bearer pk_….");
    }
    const wait = await this.#limiter.take(`api:${key.id}`, this.#rate);
    if (wait > 0) {
      return apiError(429, "rate_limited", "Too many requests for this key; slow down.", {
        retryAfterMs: wait,
      });
    }
    this.#touch(key.id);
    try {
      return await this.#dispatch(request, path, key);
    } catch (error) {
      if (error instanceof ProtocolError) return protocolFailure(error);
      this.#log.error("bot api failed", { key: key.id, path, error });
      return apiError(500, "internal", "The server failed to handle the request.");
    }
  }

  async #dispatch(request: Request, path: string, key: KeyRecord): Promise<Response> {
    const method = request.method;
    const decoded = path.slice("/api/v1/".length).split("/").map(decodeSegment);
    if (decoded.includes(null)) return notFound();
    const parts = decoded as string[];
    const feature = await botFeatureRoute(this.#features, request, parts, key);
    if (feature) return feature;
    const [first, room, sub, target, extra] = parts;
    if (first === "me" && parts.length === 1 && method === "GET") {
      const conn = await this.#connection(key);
      const { id, name, rooms, actions } = key;
      return json(200, { user: conn.user, key: { id, name, rooms, actions } });
    }
    if (first === "files" && room !== undefined && target === undefined) {
      // GET /api/v1/files/:id, or /api/v1/files/:id/:name as a browser's link has it.
      if (method !== "GET" && method !== "HEAD") return notAllowed();
      return await this.#download(request, key, room);
    }
    if (first !== "rooms" || extra !== undefined) return notFound();
    if (room === undefined) {
      if (method === "GET") return await this.#listRooms(key);
      if (method === "POST") return await this.#createRoom(request, key);
      return notAllowed();
    }
    if (!ROOM_NAME_PATTERN.test(room)) return apiError(404, "room_not_found", "No such room.");
    const refused = scope(key, room);
    if (refused) return refused;
    if (sub === "files" && target === undefined) {
      if (method !== "POST") return notAllowed();
      return await this.#upload(request, key, room);
    }
    if (sub === "messages" && target === undefined) {
      if (method === "GET") return await this.#history(request, key, room);
      if (method === "POST") return await this.#post(request, key, room);
      return notAllowed();
    }
    if (sub === "messages" && target !== undefined) {
      const seq = Number(target);
      if (!Number.isSafeInteger(seq) || seq < 1) {
        return apiError(404, "message_not_found", "No such message.");
      }
      if (method === "PATCH") return await this.#edit(request, key, room, seq);
      if (method === "DELETE") return await this.#delete(key, room, seq);
      return notAllowed();
    }
    if (sub === "members" && target === undefined) {
      if (method !== "GET") return notAllowed();
      const denied = needs(key, "read");
      if (denied) return denied;
      return json(200, await this.#hub.members(await this.#connection(key), room));
    }
    if (sub === "members" && target !== undefined) {
      if (method === "PUT") return await this.#addMember(key, room, target);
      if (method === "DELETE") return await this.#removeMember(request, key, room, target);
      return notAllowed();
    }
    if (sub === "bans" && target === undefined) {
      if (method === "POST") return await this.#ban(request, key, room);
      return notAllowed();
    }
    if (sub === "bans" && target !== undefined) {
      if (method !== "DELETE") return notAllowed();
      const denied = needs(key, "moderate");
      if (denied) return denied;
      const conn = await this.#connection(key);
      await this.#hub.unban(conn, room, await this.#userId(target));
      return noContent();
    }
    return notFound();
  }

  async #listRooms(key: KeyRecord): Promise<Response> {
    const denied = needs(key, "read");
    if (denied) return denied;
    const conn = await this.#connection(key);
    const rooms = await this.#hub.listRooms(conn.principal);
    return json(200, { rooms: rooms.filter((r) => inScope(key, r.name)) });
  }

  async #createRoom(request: Request, key: KeyRecord): Promise<Response> {
    const denied = needs(key, "rooms");
    if (denied) return denied;
    const body = await readBody(request, CreateRoom);
    if (!body.ok) return body.response;
    const { room, kind, title, topic, receipts } = body.value;
    const refused = scope(key, room);
    if (refused) return refused;
    const conn = await this.#connection(key);
    const created = await this.#hub.createRoom(conn, {
      name: room,
      topic: topic ?? "",
      ...(kind === undefined ? {} : { kind }),
      ...(title === undefined ? {} : { title }),
      ...(receipts === undefined ? {} : { receipts }),
    });
    return json(201, created);
  }

  async #post(request: Request, key: KeyRecord, room: string): Promise<Response> {
    const denied = needs(key, "post");
    if (denied) return denied;
    const body = await readBody(request, PostMessage);
    if (!body.ok) return body.response;
    const conn = await this.#joined(key, room);
    const { text, nonce, replyTo, file } = body.value;
    const extras = {
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(file === undefined ? {} : { file }),
    };
    const result = await this.#hub.send(
      conn,
      room,
      text ?? "",
      nonce ?? crypto.randomUUID(),
      undefined,
      extras,
    );
    return json(result.duplicate ? 200 : 201, result);
  }

  /**
   * POST /api/v1/rooms/:room/files?name=: the bot joins the room (as to post), then the
   * browser's upload code checks and stores it as the bot's: the right to post, mutes, the
   * cap, the bot user's upload budget. The key's own rate was spent in #bot.
   */
  async #upload(request: Request, key: KeyRecord, room: string): Promise<Response> {
    const denied = needs(key, "post");
    if (denied) return denied;
    if (!this.#files) return apiError(403, "forbidden", "This server takes no uploads.");
    const conn = await this.#joined(key, room);
    return await this.#files.upload(request, conn.principal, room);
  }

  /** GET /api/v1/files/:id: as a person downloads, for a room of the bot's and the key's. */
  async #download(request: Request, key: KeyRecord, id: string): Promise<Response> {
    const denied = needs(key, "read");
    if (denied) return denied;
    if (!this.#files) return apiError(404, "file_not_found", "No such file.");
    const conn = await this.#connection(key);
    return await this.#files.download(request, conn.principal, id, (room) => inScope(key, room));
  }

  async #history(request: Request, key: KeyRecord, room: string): Promise<Response> {
    const denied = needs(key, "read");
    if (denied) return denied;
    const query = new URL(request.url).searchParams;
    const bounds: { before?: number; after?: number; limit?: number } = {};
    for (const name of ["before", "after", "limit"] as const) {
      const raw = query.get(name);
      if (raw === null) continue;
      const value = Number(raw);
      const max = name === "limit" ? LIMITS.historyPageMax : Number.MAX_SAFE_INTEGER;
      const min = name === "limit" ? 1 : 0;
      if (raw === "" || !Number.isSafeInteger(value) || value < min || value > max) {
        return apiError(400, "invalid_request", `${name}: an integer from ${min} to ${max}.`);
      }
      bounds[name] = value;
    }
    const conn = await this.#joined(key, room);
    return json(200, await this.#hub.history(conn, room, bounds));
  }

  async #edit(request: Request, key: KeyRecord, room: string, seq: number): Promise<Response> {
    const denied = needs(key, "post");
    if (denied) return denied;
    const body = await readBody(request, EditMessage);
    if (!body.ok) return body.response;
    const conn = await this.#joined(key, room);
    return json(200, await this.#hub.edit(conn, room, seq, body.value.text));
  }

  async #delete(key: KeyRecord, room: string, seq: number): Promise<Response> {
    const denied = needs(key, "post");
    if (denied) return denied;
    const conn = await this.#joined(key, room);
    return json(200, await this.#hub.delete(conn, room, seq));
  }

  async #addMember(key: KeyRecord, room: string, user: string): Promise<Response> {
    const denied = needs(key, "members");
    if (denied) return denied;
    const userId = await this.#userId(user);
    if (userId === botUserId(key.id)) {
      await this.#joined(key, room);
      return noContent();
    }
    await this.#hub.invite(await this.#connection(key), room, userId);
    return noContent();
  }

  async #removeMember(
    request: Request,
    key: KeyRecord,
    room: string,
    user: string,
  ): Promise<Response> {
    const denied = needs(key, "members");
    if (denied) return denied;
    const userId = await this.#userId(user);
    if (userId === botUserId(key.id)) {
      const conn = await this.#joined(key, room);
      await this.#hub.leave(conn, room);
      return noContent();
    }
    const reason = (new URL(request.url).searchParams.get("reason") ?? "")
      .slice(0, LIMITS.reasonChars);
    await this.#hub.kick(await this.#connection(key), room, userId, reason);
    return noContent();
  }

  async #ban(request: Request, key: KeyRecord, room: string): Promise<Response> {
    const denied = needs(key, "moderate");
    if (denied) return denied;
    const body = await readBody(request, BanBody);
    if (!body.ok) return body.response;
    const userId = await this.#userId(body.value.user);
    const conn = await this.#connection(key);
    await this.#hub.ban(conn, room, userId, body.value.minutes, body.value.reason ?? "");
    return noContent();
  }

  // ---- keys, connections, users -------------------------------------------------------------------

  /** The live key behind the request's bearer token, or null (unknown, malformed, revoked). */
  async #authenticate(request: Request): Promise<KeyRecord | null> {
    const bearer = bearerToken(request);
    const match = bearer ? KEY_PATTERN.exec(bearer) : null;
    if (!bearer || !match) return null;
    // Read on every request, so a revocation holds at once on every instance.
    const record = await this.#keys.get(match[1]!);
    if (!record) return null;
    const given = new TextEncoder().encode(hash(bearer));
    const stored = new TextEncoder().encode(record.hash);
    return given.length === stored.length && timingSafeEqual(given, stored) ? record : null;
  }

  /** Note when a key was last used, at most once a minute; and let idle bots go offline. */
  #touch(id: string): void {
    const now = this.#now();
    if (now - (this.#lastUsedWritten.get(id) ?? 0) >= LAST_USED_EVERY_MS) {
      this.#lastUsedWritten.set(id, now);
      // The repository never brings back a key revoked meanwhile.
      this.#keys.touch(id, now)
        .catch((error) => this.#log.warn("api key last-used write failed", { key: id, error }));
    }
    if (now - this.#lastSweep < LAST_USED_EVERY_MS) return;
    this.#lastSweep = now;
    for (const [keyId, pending] of this.#conns) {
      pending.then((conn) => {
        if (now - conn.lastUsed < this.#idleMs || this.#conns.get(keyId) !== pending) return;
        this.#conns.delete(keyId);
        this.#hub.disconnect(conn);
      }, () => {});
    }
  }

  /** This key's connection on this instance, made (and registered with the hub) on first use. */
  async #connection(key: KeyRecord): Promise<BotConnection> {
    let pending = this.#conns.get(key.id);
    if (pending) {
      const conn = await pending.catch(() => null);
      if (conn && !conn.closed) {
        conn.lastUsed = this.#now();
        return conn;
      }
      if (this.#conns.get(key.id) === pending) this.#conns.delete(key.id);
    }
    pending = this.#open(key);
    this.#conns.set(key.id, pending);
    try {
      return await pending;
    } catch (error) {
      if (this.#conns.get(key.id) === pending) this.#conns.delete(key.id);
      throw error;
    }
  }

  async #open(key: KeyRecord): Promise<BotConnection> {
    const userId = botUserId(key.id);
    const existing = await this.#accounts.get(userId);
    if (existing?.disabled) {
      throw new ProtocolError("forbidden", "This bot's account is disabled.", undefined, "account");
    }
    const account = await this.#accounts.upsertExternal(userId, key.name, "user");
    const conn = new BotConnection(
      { id: account.id, name: account.username },
      key.id,
      this.#now(),
      (closed) => {
        // The hub closed it (revoked, disabled, shutting down): the next request makes another.
        void this.#conns.get(key.id)?.then((current) => {
          if (current === closed) this.#conns.delete(key.id);
        }, () => {});
      },
    );
    await this.#hub.connect(conn);
    return conn;
  }

  /** The key's connection, joined to `room` (which checks room.join, as for a person). */
  async #joined(key: KeyRecord, room: string): Promise<BotConnection> {
    const conn = await this.#connection(key);
    if (this.#hub.isJoined(conn, room)) return conn;
    try {
      await this.#hub.join(conn, room, { limit: 0 });
      return conn;
    } catch (error) {
      if (!(error instanceof ProtocolError) || error.code !== "too_many_rooms") throw error;
    }
    // A busy bot outgrew one connection's rooms: start afresh; it rejoins rooms as it uses them.
    this.#hub.disconnect(conn);
    conn.closed = true;
    this.#conns.delete(key.id);
    const fresh = await this.#connection(key);
    await this.#hub.join(fresh, room, { limit: 0 });
    return fresh;
  }

  /** A user by id, else by username. */
  async #userId(ref: string): Promise<string> {
    if (await this.#accounts.get(ref)) return ref;
    return (await this.#hub.findUser(ref)).id;
  }
}

function inScope(key: KeyRecord, room: string): boolean {
  return key.rooms.includes("*") || key.rooms.includes(room);
}

/** The key's room scope: null when `room` is in it, else the 403 answer. */
function scope(key: KeyRecord, room: string): Response | null {
  if (inScope(key, room)) return null;
  return apiError(403, "forbidden", `This API key is not allowed in #${room}.`, {
    permission: "key:room",
  });
}

/** The key's actions: null when `action` is among them, else the 403 answer. */
function needs(key: KeyRecord, action: ApiAction): Response | null {
  if (key.actions.includes(action)) return null;
  return apiError(403, "forbidden", `This API key may not ${action}.`, {
    permission: `key:${action}`,
  });
}

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function notFound(): Response {
  return apiError(404, "not_found", "Not found.");
}

function notAllowed(): Response {
  return apiError(405, "method_not_allowed", "Method not allowed here.");
}
