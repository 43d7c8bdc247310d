/**
 * The bot API's routes for reactions, search, threads and the room directory:
 *
 *   PUT, DELETE /api/v1/rooms/:room/messages/:seq/reactions/:emoji   post
 *   GET         /api/v1/rooms/:room/messages/:seq/thread             read
 *   GET         /api/v1/search?text=&room=&author=&from=&to=&replyTo=&cursor=&limit=   read
 *   GET         /api/v1/directory?query=&cursor=&limit=               read
 *
 * They act through the same hub calls as a socket's frames, as the key's bot user, within
 * the key's rooms. bots.ts authenticates the key and rate-limits it first.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS, ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import { Emoji } from "../../protocol/schema.ts";
import type { Connection, Hub, SearchRequest } from "../hub.ts";
import type { ApiKeyRecord } from "../store/repositories.ts";
import { type ApiAction, apiError, json } from "./openapi.ts";

/** What bots.ts lends these routes. */
export interface BotFeatureContext {
  hub: Hub;
  /** The key's connection. */
  connection(key: ApiKeyRecord): Promise<Connection>;
  /** The key's connection, joined to `room` (room.join is checked, as for a person). */
  joined(key: ApiKeyRecord, room: string): Promise<Connection>;
  /** Null when the key may use `action`, else the 403 answer. */
  needs(key: ApiKeyRecord, action: ApiAction): Response | null;
  /** Null when `room` is in the key's rooms, else the 403 answer. */
  scope(key: ApiKeyRecord, room: string): Response | null;
  inScope(key: ApiKeyRecord, room: string): boolean;
}

/** Answer one of these routes, or null when `parts` (the path below /api/v1/) is another. */
export async function botFeatureRoute(
  context: BotFeatureContext,
  request: Request,
  parts: string[],
  key: ApiKeyRecord,
): Promise<Response | null> {
  const method = request.method;
  const [first, room, sub, seqPart, what, emoji, ...rest] = parts;
  if (first === "search" && parts.length === 1) {
    return method === "GET" ? await search(context, request, key) : notAllowed();
  }
  if (first === "directory" && parts.length === 1) {
    return method === "GET" ? await directory(context, request, key) : notAllowed();
  }
  if (first !== "rooms" || sub !== "messages" || rest.length > 0) return null;
  if (room === undefined || seqPart === undefined) return null;
  const thread = what === "thread" && emoji === undefined;
  const reaction = what === "reactions" && emoji !== undefined;
  if (!thread && !reaction) return null;
  if (!ROOM_NAME_PATTERN.test(room)) return apiError(404, "room_not_found", "No such room.");
  const refused = context.scope(key, room);
  if (refused) return refused;
  const seq = Number(seqPart);
  if (!Number.isSafeInteger(seq) || seq < 1) {
    return apiError(404, "message_not_found", "No such message.");
  }
  if (thread) {
    if (method !== "GET") return notAllowed();
    return await search(context, request, key, { room, replyTo: seq });
  }
  if (method !== "PUT" && method !== "DELETE") return notAllowed();
  const denied = context.needs(key, "post");
  if (denied) return denied;
  if (!Emoji.safeParse(emoji).success) {
    return apiError(400, "invalid_request", "emoji: one Unicode emoji, percent-encoded.");
  }
  const conn = await context.joined(key, room);
  return json(200, await context.hub.react(conn, room, seq, emoji!, method === "DELETE"));
}

/** A search (or, with `fixed`, a thread) over the bot's rooms within the key's scope. */
async function search(
  context: BotFeatureContext,
  request: Request,
  key: ApiKeyRecord,
  fixed: { room: string; replyTo: number } | null = null,
): Promise<Response> {
  const denied = context.needs(key, "read");
  if (denied) return denied;
  const params = new URL(request.url).searchParams;
  const asked: SearchRequest = {};
  const problem = fixed
    ? readParams(params, asked, ["cursor", "limit"])
    : readParams(params, asked, [
      "text",
      "room",
      "author",
      "from",
      "to",
      "replyTo",
      "cursor",
      "limit",
    ]);
  if (problem) return apiError(400, "invalid_request", problem);
  if (fixed) Object.assign(asked, fixed);
  const room = asked.room;
  if (room !== undefined) {
    if (!ROOM_NAME_PATTERN.test(room)) return apiError(404, "room_not_found", "No such room.");
    const refused = context.scope(key, room);
    if (refused) return refused;
    // As for history: the bot joins a room it reads, where it may.
    await context.joined(key, room);
  }
  const conn = await context.connection(key);
  return await answered(() =>
    context.hub.search(conn.principal, asked, (name) => context.inScope(key, name))
  );
}

async function directory(
  context: BotFeatureContext,
  request: Request,
  key: ApiKeyRecord,
): Promise<Response> {
  const denied = context.needs(key, "read");
  if (denied) return denied;
  const params = new URL(request.url).searchParams;
  const asked: { query?: string; cursor?: string; limit?: number } = {};
  const query = params.get("query");
  if (query !== null) {
    if (query.length > LIMITS.displayNameChars) {
      return apiError(400, "invalid_request", `query: at most ${LIMITS.displayNameChars}.`);
    }
    asked.query = query;
  }
  const cursor = params.get("cursor");
  if (cursor !== null) asked.cursor = cursor;
  const limit = params.get("limit");
  if (limit !== null) {
    const value = integer(limit, 1, LIMITS.historyPageMax);
    if (value === null) {
      return apiError(400, "invalid_request", `limit: 1 to ${LIMITS.historyPageMax}.`);
    }
    asked.limit = value;
  }
  const conn = await context.connection(key);
  return await answered(() =>
    context.hub.directory(conn.principal, asked, (name) => context.inScope(key, name))
  );
}

type SearchParam = keyof SearchRequest;

/** Copy the named query parameters into `into`, checked; a message when one is bad. */
function readParams(
  params: URLSearchParams,
  into: SearchRequest,
  names: SearchParam[],
): string | null {
  for (const name of names) {
    const raw = params.get(name);
    if (raw === null) continue;
    switch (name) {
      case "text":
        if (raw.length > LIMITS.searchChars) return `text: at most ${LIMITS.searchChars}.`;
        into.text = raw;
        break;
      case "room":
      case "author":
      case "cursor":
        if (raw === "" || raw.length > 200) return `${name}: 1 to 200 characters.`;
        into[name] = raw;
        break;
      case "from":
      case "to": {
        const value = raw === "" ? NaN : Number(raw);
        if (!Number.isFinite(value)) return `${name}: a time in ms since the epoch.`;
        into[name] = value;
        break;
      }
      case "replyTo": {
        const value = integer(raw, 1, Number.MAX_SAFE_INTEGER);
        if (value === null) return "replyTo: a message's seq.";
        into.replyTo = value;
        break;
      }
      case "limit": {
        const value = integer(raw, 1, LIMITS.searchPageMax);
        if (value === null) return `limit: 1 to ${LIMITS.searchPageMax}.`;
        into.limit = value;
        break;
      }
    }
  }
  return null;
}

function integer(raw: string, min: number, max: number): number | null {
  const value = raw === "" ? NaN : Number(raw);
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : null;
}

/** 200 with the page; a malformed cursor (invalid_frame on a socket) is 400 invalid_request. */
async function answered(run: () => Promise<unknown>): Promise<Response> {
  try {
    return json(200, await run());
  } catch (error) {
    if (error instanceof ProtocolError && error.code === "invalid_frame") {
      return apiError(400, "invalid_request", error.message);
    }
    throw error;
  }
}

function notAllowed(): Response {
  return apiError(405, "method_not_allowed", "Method not allowed here.");
}
