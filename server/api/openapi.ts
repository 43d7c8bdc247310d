/**
 * The server API's shapes: the zod schemas that validate its request bodies, the JSON
 * reply helpers it answers with, and the OpenAPI 3.1 document built from both (served
 * at `GET /api/openapi.json`). Message, room and member shapes come from the protocol's
 * own schemas, so the API and the WebSocket protocol cannot drift apart.
 */
import { json } from "../reply.ts";
import * as z from "zod";
import { LIMITS } from "../../protocol/limits.ts";
import { FileRef, Member, Message, RoomInfo, RoomMember, RoomName } from "../../protocol/schema.ts";
import type { ProtocolError } from "../../protocol/errors.ts";
import {
  EmptyBody,
  Invite,
  IssuedToken,
  LoginBody,
  LogoutBody,
  RegisterBody,
  RoomPatch,
  SignedIn,
  Ticket,
  UserPatch,
} from "./account_schemas.ts";

// ---- vocabulary -------------------------------------------------------------------------------

/** What an API key may be used for; each bot route needs one of them. */
export const API_ACTIONS = ["post", "read", "rooms", "members", "moderate"] as const;
export type ApiAction = (typeof API_ACTIONS)[number];

export const WEBHOOK_EVENTS = [
  "message.created",
  "message.edited",
  "message.deleted",
  "message.reacted",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

// ---- schemas ----------------------------------------------------------------------------------

const Id = z.string().regex(/^[0-9a-f]{16}$/).describe("A 16-hex-digit id");
const Time = z.number().describe("ms since the Unix epoch");
const Text = z.string().max(LIMITS.messageChars).refine((s) => s.trim().length > 0, {
  message: "text is empty",
}).describe(`Message text, at most ${LIMITS.messageChars} characters`);
const UserRef = z.string().min(1).max(128).describe("A user's id or username");
const Reason = z.string().max(LIMITS.reasonChars);
const Minutes = z.int().min(1).max(60 * 24 * 366);

export const ApiError = z.strictObject({
  error: z.strictObject({
    code: z.string().describe(
      "e.g. bad_request, unsupported_media_type, too_large, unauthorized, forbidden, " +
        "origin_required, room_not_found, rate_limited",
    ),
    message: z.string(),
    permission: z.string().optional().describe(
      "With forbidden: what is missing; `key:<action>` or `key:room` when the API key's " +
        "scope refuses, otherwise the room permission, as for people",
    ),
    retryAfterMs: z.int().min(0).optional(),
  }),
});

export const KeyCreate = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$/).describe(
    "The bot user's name, as people see it",
  ),
  rooms: z.array(z.union([z.literal("*"), RoomName])).min(1).max(100).describe(
    'Rooms the key may touch; "*" for every room',
  ),
  actions: z.array(z.enum(API_ACTIONS)).min(1).describe(
    "post: post, edit, delete and react, upload files; read: rooms, history, members, " +
      "search, the directory, download files; rooms: create rooms; members: invite and " +
      "remove members; moderate: ban and unban",
  ),
});

export const KeyInfo = z.strictObject({
  id: Id,
  name: z.string(),
  rooms: z.array(z.string()),
  actions: z.array(z.enum(API_ACTIONS)),
  user: Member.describe("The bot user the key acts as"),
  createdAt: Time,
  createdBy: z.string(),
  lastUsedAt: Time.optional().describe("Updated at most once a minute"),
});

export const KeyCreated = KeyInfo.extend({
  key: z.string().describe("`pk_<id>_<secret>`: shown once; the server keeps only its SHA-256"),
});

export const PostMessage = z.strictObject({
  text: Text.optional().describe("Markdown; may be left out only with `file` (else text_empty)"),
  nonce: z.string().min(1).max(LIMITS.nonceChars).optional().describe(
    "Idempotency key: a retry with the same nonce returns the original message",
  ),
  replyTo: z.int().min(1).optional().describe(
    "Reply to this message of the room (a live text message, else message_not_found)",
  ),
  file: z.string().min(1).max(64).optional().describe(
    "Attach a file the bot uploaded to this room (else file_not_found)",
  ),
});

export const EditMessage = z.strictObject({ text: Text });

export const CreateRoom = z.strictObject({
  room: RoomName,
  kind: z.enum(["public", "private", "announcement"]).optional().describe("public unless said"),
  title: z.string().max(LIMITS.displayNameChars).optional(),
  topic: z.string().max(LIMITS.topicChars).optional(),
  receipts: z.boolean().optional(),
});

export const BanBody = z.strictObject({
  user: UserRef,
  minutes: Minutes.optional().describe("Absent: for ever"),
  reason: Reason.optional(),
});

export const HistoryPage = z.strictObject({
  messages: z.array(Message).describe("Ascending by seq"),
  hasMore: z.boolean().describe("More entries exist beyond this page in the direction asked"),
});

export const SearchPage = z.strictObject({
  messages: z.array(Message).describe("Newest first, each as it is now"),
  next: z.string().optional().describe("Pass as `cursor` for the next page; absent on the last"),
});

export const DirectoryPage = z.strictObject({
  rooms: z.array(RoomInfo).describe(
    "Public and announcement rooms with `members`: most members first, then by name",
  ),
  next: z.string().optional().describe("Pass as `cursor` for the next page; absent on the last"),
});

export const ReactedMessage = z.strictObject({
  message: Message.describe("The react entry (kind react, `target`, `emoji`, `remove?`)"),
});

export const UploadedFile = z.strictObject({
  file: FileRef.describe("Attach it with POST …/messages {file: id}, in this room"),
});

export const PostedMessage = z.strictObject({
  message: Message,
  duplicate: z.boolean().describe("The nonce was seen before: this is the original"),
});

export const WebhookCreate = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048).describe("Where to POST events"),
  room: RoomName.optional().describe("Only this room; absent: every room but direct messages"),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional().describe("Absent: all of them"),
  secret: z.string().min(16).max(256).optional().describe(
    "The signing secret; absent: the server makes one",
  ),
});

export const WebhookInfo = z.strictObject({
  id: Id,
  url: z.string(),
  room: RoomName.optional(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  createdAt: Time,
  createdBy: z.string(),
  queued: z.int().min(0).optional().describe("Deliveries waiting on this server instance"),
});

export const WebhookCreated = WebhookInfo.extend({
  secret: z.string().describe("The HMAC-SHA256 signing secret: shown once"),
});

export const DeliveryOutcome = z.enum(["delivered", "retrying", "failed"]);

export const Delivery = z.strictObject({
  delivery: z.string().describe("The x-parley-delivery id, the same on every attempt"),
  event: z.enum(WEBHOOK_EVENTS),
  room: z.string(),
  seq: z.int(),
  attempt: z.int().min(1),
  at: Time.describe("When the attempt started"),
  status: z.int().optional().describe("The endpoint's HTTP status"),
  error: z.string().optional().describe("Why no status: a network error or the timeout"),
  durationMs: z.number(),
  outcome: DeliveryOutcome,
  retryAt: Time.optional().describe("With retrying: when the next attempt is due"),
});

export const WebhookPayload = z.strictObject({
  event: z.enum(WEBHOOK_EVENTS),
  delivery: z.string(),
  message: Message,
  room: z.strictObject({
    name: RoomName,
    kind: z.string().optional(),
    title: z.string().optional(),
  }),
  deliveredAt: Time,
}).describe(
  "POSTed to each webhook. Headers: x-parley-event, x-parley-delivery, x-parley-attempt, " +
    "x-parley-timestamp (unix seconds) and x-parley-signature: " +
    "sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)>",
);

// ---- replies ----------------------------------------------------------------------------------

export { json };

export function noContent(): Response {
  return new Response(null, { status: 204, headers: { "cache-control": "no-store" } });
}

export function apiError(
  status: number,
  code: string,
  message: string,
  extra: { permission?: string; retryAfterMs?: number } = {},
): Response {
  const headers: Record<string, string> = extra.retryAfterMs === undefined
    ? {}
    : { "retry-after": String(Math.max(1, Math.ceil(extra.retryAfterMs / 1000))) };
  return json(status, { error: { code, message, ...extra } }, headers);
}

const STATUS_OF: Record<string, number> = {
  forbidden: 403,
  refused: 403,
  unauthorized: 401,
  room_not_found: 404,
  user_not_found: 404,
  message_not_found: 404,
  file_not_found: 404,
  room_exists: 409,
  too_many_reactions: 409,
  not_joined: 409,
  too_many_rooms: 409,
  rate_limited: 429,
  internal: 500,
};

/** A ProtocolError from the hub, as an HTTP answer: the same code and message as on a socket. */
export function protocolFailure(error: ProtocolError): Response {
  return apiError(STATUS_OF[error.code] ?? 400, error.code, error.message, {
    ...(error.permission === undefined ? {} : { permission: error.permission }),
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  });
}

export { MAX_BODY_BYTES, readBody } from "../body.ts";

// ---- the document -----------------------------------------------------------------------------

const COMPONENTS: Record<string, z.ZodType> = {
  Member,
  Message,
  RoomInfo,
  RoomMember,
  ApiError,
  KeyCreate,
  KeyInfo,
  KeyCreated,
  PostMessage,
  EditMessage,
  CreateRoom,
  BanBody,
  HistoryPage,
  PostedMessage,
  SearchPage,
  DirectoryPage,
  ReactedMessage,
  FileRef,
  UploadedFile,
  WebhookCreate,
  WebhookInfo,
  WebhookCreated,
  Delivery,
  WebhookPayload,
  RegisterBody,
  LoginBody,
  LogoutBody,
  EmptyBody,
  UserPatch,
  RoomPatch,
  SignedIn,
  IssuedToken,
  Ticket,
  Invite,
};

type Json = Record<string, unknown>;
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const body = (name: string): Json => ({
  required: true,
  content: { "application/json": { schema: ref(name) } },
});
/** A body that may be left out (it stands for `{}` then). */
const optionalBody = (name: string): Json => ({ ...body(name), required: false });
const answer = (description: string, schema?: Json): Json =>
  schema ? { description, content: { "application/json": { schema } } } : { description };
const errors = (...statuses: number[]): Json =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const pathParam = (name: string, description: string): Json => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string" },
  description,
});
const ROOM = pathParam("room", "Room name");
const USER = pathParam("user", "A user's id or username");
const SEQ = { ...pathParam("seq", "The message's seq"), schema: { type: "integer", minimum: 1 } };
const KEY_ID = pathParam("id", "The key's id");
const HOOK_ID = pathParam("id", "The webhook's id");
const BOT = [{ apiKey: [] }];
const ADMIN = [{ session: [] }, { sessionToken: [] }];
const SIGNED_IN = ADMIN;

function op(
  summary: string,
  security: Json[],
  extra: Json,
  responses: Json,
  codes: number[],
): Json {
  // Whatever takes a body can be sent a malformed, non-JSON or oversized one.
  const all = extra.requestBody
    ? [...new Set([400, 413, 415, ...codes])].sort((a, b) => a - b)
    : codes;
  return { summary, security, ...extra, responses: { ...responses, ...errors(...all) } };
}

function paths(): Json {
  const bot = (action: ApiAction | null, summary: string) =>
    action ? `${summary} Needs the key action \`${action}\`.` : summary;
  return {
    "/api/openapi.json": {
      get: {
        summary: "This document.",
        security: [],
        responses: { "200": answer("The OpenAPI document", { type: "object" }) },
      },
    },
    ...accountPaths(),
    "/api/admin/keys": {
      get: op("List API keys (never their secrets).", ADMIN, {}, {
        "200": answer("The keys", {
          type: "object",
          properties: { keys: { type: "array", items: ref("KeyInfo") } },
          required: ["keys"],
        }),
      }, [401, 403]),
      post: op(
        "Issue an API key scoped to rooms and actions; it acts as a new bot user.",
        ADMIN,
        { requestBody: body("KeyCreate") },
        { "201": answer("The key, with its secret shown this once", ref("KeyCreated")) },
        [400, 401, 403],
      ),
    },
    "/api/admin/keys/{id}": {
      parameters: [KEY_ID],
      get: op("One API key.", ADMIN, {}, { "200": answer("The key", ref("KeyInfo")) }, [
        401,
        403,
        404,
      ]),
      delete: op(
        "Revoke a key at once; its bot user is disabled and its connections closed.",
        ADMIN,
        {},
        { "204": answer("Revoked") },
        [401, 403, 404],
      ),
    },
    "/api/admin/webhooks": {
      get: op("List webhooks (never their secrets).", ADMIN, {}, {
        "200": answer("The webhooks", {
          type: "object",
          properties: { webhooks: { type: "array", items: ref("WebhookInfo") } },
          required: ["webhooks"],
        }),
      }, [401, 403]),
      post: op(
        "Add an outgoing webhook for one room or the whole server. Each event is POSTed as " +
          "WebhookPayload, signed; failures (network, timeout, 5xx, 408, 429) are retried " +
          "with backoff.",
        ADMIN,
        { requestBody: body("WebhookCreate") },
        { "201": answer("The webhook, with its secret shown this once", ref("WebhookCreated")) },
        [400, 401, 403, 404],
      ),
    },
    "/api/admin/webhooks/{id}": {
      parameters: [HOOK_ID],
      get: op("One webhook.", ADMIN, {}, { "200": answer("The webhook", ref("WebhookInfo")) }, [
        401,
        403,
        404,
      ]),
      delete: op("Remove a webhook and its delivery log.", ADMIN, {}, {
        "204": answer("Removed"),
      }, [401, 403, 404]),
    },
    "/api/admin/webhooks/{id}/deliveries": {
      parameters: [HOOK_ID],
      get: op(
        "The delivery log, newest first: one entry per attempt (the last 100 are kept).",
        ADMIN,
        {
          parameters: [{
            name: "limit",
            in: "query",
            schema: { type: "integer", minimum: 1, maximum: 100 },
          }],
        },
        {
          "200": answer("Attempts", {
            type: "object",
            properties: { deliveries: { type: "array", items: ref("Delivery") } },
            required: ["deliveries"],
          }),
        },
        [401, 403, 404],
      ),
    },
    "/api/v1/me": {
      get: op(bot(null, "The bot user and its key's scope."), BOT, {}, {
        "200": answer("Who the key acts as", {
          type: "object",
          properties: {
            user: ref("Member"),
            key: {
              type: "object",
              properties: {
                id: { type: "string" },
                name: { type: "string" },
                rooms: { type: "array", items: { type: "string" } },
                actions: { type: "array", items: { type: "string", enum: [...API_ACTIONS] } },
              },
            },
          },
          required: ["user", "key"],
        }),
      }, [401, 429]),
    },
    "/api/v1/rooms": {
      get: op(bot("read", "Rooms the bot may see, within the key's rooms."), BOT, {}, {
        "200": answer("Rooms", {
          type: "object",
          properties: { rooms: { type: "array", items: ref("RoomInfo") } },
          required: ["rooms"],
        }),
      }, [401, 403, 429]),
      post: op(
        bot("rooms", "Create a room; the bot becomes its owner. The name must be in scope."),
        BOT,
        { requestBody: body("CreateRoom") },
        {
          "201": answer("The room", {
            type: "object",
            properties: { room: ref("RoomInfo") },
            required: ["room"],
          }),
        },
        [400, 401, 403, 409, 429],
      ),
    },
    "/api/v1/rooms/{room}/messages": {
      parameters: [ROOM],
      get: op(
        bot(
          "read",
          "A page of history: the latest without bounds, else entries below `before` or " +
            "above `after`.",
        ),
        BOT,
        {
          parameters: [
            { name: "before", in: "query", schema: { type: "integer", minimum: 0 } },
            { name: "after", in: "query", schema: { type: "integer", minimum: 0 } },
            {
              name: "limit",
              in: "query",
              schema: { type: "integer", minimum: 1, maximum: LIMITS.historyPageMax },
            },
          ],
        },
        { "200": answer("The page", ref("HistoryPage")) },
        [400, 401, 403, 404, 429],
      ),
      post: op(
        bot("post", "Post a message as the bot (joining the room first, as a person would)."),
        BOT,
        { requestBody: body("PostMessage") },
        {
          "201": answer("Committed", ref("PostedMessage")),
          "200": answer("A repeated nonce: the original", ref("PostedMessage")),
        },
        [400, 401, 403, 404, 429],
      ),
    },
    "/api/v1/rooms/{room}/messages/{seq}": {
      parameters: [ROOM, SEQ],
      patch: op(bot("post", "Edit one of the bot's messages."), BOT, {
        requestBody: body("EditMessage"),
      }, {
        "200": answer("The edit entry", {
          type: "object",
          properties: { message: ref("Message") },
          required: ["message"],
        }),
      }, [400, 401, 403, 404, 429]),
      delete: op(
        bot("post", "Delete a message: the bot's own, or anyone's where it moderates."),
        BOT,
        {},
        {
          "200": answer("The delete entry", {
            type: "object",
            properties: { message: ref("Message") },
            required: ["message"],
          }),
        },
        [401, 403, 404, 429],
      ),
    },
    "/api/v1/rooms/{room}/members": {
      parameters: [ROOM],
      get: op(bot("read", "The room's members (moderators also see bans)."), BOT, {}, {
        "200": answer("Members", {
          type: "object",
          properties: { members: { type: "array", items: ref("RoomMember") } },
          required: ["members"],
        }),
      }, [401, 403, 404, 429]),
    },
    "/api/v1/rooms/{room}/members/{user}": {
      parameters: [ROOM, USER],
      put: op(
        bot(
          "members",
          "Invite a user (needs the room's invite permission); naming the bot itself joins.",
        ),
        BOT,
        {},
        { "204": answer("Invited or joined") },
        [401, 403, 404, 429],
      ),
      delete: op(
        bot(
          "members",
          "Kick a member (needs the room's kick permission); naming the bot itself leaves.",
        ),
        BOT,
        { parameters: [{ name: "reason", in: "query", schema: { type: "string" } }] },
        { "204": answer("Removed") },
        [401, 403, 404, 429],
      ),
    },
    "/api/v1/rooms/{room}/bans": {
      parameters: [ROOM],
      post: op(
        bot("moderate", "Ban a user, for `minutes` or for ever."),
        BOT,
        {
          requestBody: body("BanBody"),
        },
        { "204": answer("Banned") },
        [400, 401, 403, 404, 429],
      ),
    },
    "/api/v1/rooms/{room}/bans/{user}": {
      parameters: [ROOM, USER],
      delete: op(bot("moderate", "Lift a ban."), BOT, {}, { "204": answer("Unbanned") }, [
        401,
        403,
        404,
        429,
      ]),
    },
    ...featurePaths(bot),
    ...filePaths(bot),
  };
}

const query = (name: string, schema: Json, description?: string): Json => ({
  name,
  in: "query",
  schema,
  ...(description ? { description } : {}),
});
const CURSOR = query("cursor", { type: "string" }, "`next` from the previous page");

/** Reactions, search, threads and the room directory, for bots. */
function featurePaths(bot: (action: ApiAction | null, summary: string) => string): Json {
  const EMOJI = pathParam("emoji", "One emoji, percent-encoded (e.g. %F0%9F%91%8D)");
  const reacted = { "200": answer("The react entry", ref("ReactedMessage")) };
  const searchLimit = query("limit", {
    type: "integer",
    minimum: 1,
    maximum: LIMITS.searchPageMax,
  }, "Default 20");
  return {
    "/api/v1/rooms/{room}/messages/{seq}/reactions/{emoji}": {
      parameters: [ROOM, SEQ, EMOJI],
      put: op(
        bot(
          "post",
          "React to a message (joining the room first). Announcement rooms included; " +
            "a repeat changes nothing.",
        ),
        BOT,
        {},
        reacted,
        [400, 401, 403, 404, 409, 429],
      ),
      delete: op(bot("post", "Take the bot's reaction back."), BOT, {}, reacted, [
        400,
        401,
        403,
        404,
        429,
      ]),
    },
    "/api/v1/rooms/{room}/messages/{seq}/thread": {
      parameters: [ROOM, SEQ],
      get: op(
        bot("read", "The replies to a message, newest first (a search with replyTo)."),
        BOT,
        { parameters: [CURSOR, searchLimit] },
        { "200": answer("A page of replies", ref("SearchPage")) },
        [400, 401, 403, 404, 429],
      ),
    },
    "/api/v1/search": {
      get: op(
        bot(
          "read",
          "Messages of the rooms the bot is a member of (within the key's rooms), newest " +
            "first. With `room`, that room only (the bot joins it first, as for history).",
        ),
        BOT,
        {
          parameters: [
            query("text", { type: "string", maxLength: LIMITS.searchChars }, "Words, all required"),
            query("room", { type: "string" }),
            query("author", { type: "string" }, "A user id"),
            query("from", { type: "number" }, "ts >= from (ms)"),
            query("to", { type: "number" }, "ts < to (ms)"),
            query("replyTo", { type: "integer", minimum: 1 }, "With room: replies to this seq"),
            CURSOR,
            searchLimit,
          ],
        },
        { "200": answer("A page of messages", ref("SearchPage")) },
        [400, 401, 403, 404, 429],
      ),
    },
    "/api/v1/directory": {
      get: op(
        bot("read", "Public and announcement rooms within the key's rooms, biggest first."),
        BOT,
        {
          parameters: [
            query("query", { type: "string" }, "Part of a name, title or topic"),
            CURSOR,
            query("limit", { type: "integer", minimum: 1, maximum: LIMITS.historyPageMax }),
          ],
        },
        { "200": answer("A page of rooms", ref("DirectoryPage")) },
        [400, 401, 403, 429],
      ),
    },
  };
}

/** Uploads and downloads, for bots: the browser's file routes behind an API key. */
function filePaths(bot: (action: ApiAction | null, summary: string) => string): Json {
  const upload = op(
    bot(
      "post",
      "Upload a file to a room (joining it first, as to post): the raw bytes as the body, " +
        "any Content-Type (ignored; the type is sniffed). As for people: the right to post " +
        "in the room (only moderators in announcement rooms, not while muted), the bot " +
        "user's upload budget (429), the server's cap (413 file_too_large, by " +
        "Content-Length before the body is read); a server without uploads answers 403.",
    ),
    BOT,
    {
      parameters: [
        query("name", { type: "string" }, "The file's name, as people see it and save it"),
      ],
    },
    {
      "201": answer("Stored; attach it with `file` when posting", ref("UploadedFile")),
      "413": answer("file_too_large: over the server's upload cap", ref("ApiError")),
    },
    [401, 403, 404, 429],
  );
  const download = op(
    bot(
      "read",
      "A file's bytes, for a room within the key's rooms that the bot is a member of; " +
        "anything else, and any unknown id, is 404 file_not_found. Headers as for " +
        "/files/{id}/{name}: the sniffed Content-Type, nosniff, a sandboxing CSP; one " +
        "byte Range is answered 206.",
    ),
    BOT,
    {},
    {
      "200": {
        description: "The bytes",
        content: { "application/octet-stream": { schema: { type: "string" } } },
      },
      "206": answer("A byte range"),
    },
    [401, 403, 404, 429],
  );
  return {
    "/api/v1/rooms/{room}/files": {
      parameters: [ROOM],
      post: {
        ...upload,
        requestBody: {
          required: true,
          content: { "application/octet-stream": { schema: { type: "string" } } },
        },
      },
    },
    "/api/v1/files/{id}": {
      parameters: [pathParam("id", "The file's id (FileRef.id)")],
      get: download,
    },
  };
}

const ERROR_TEXT: Record<number, string> = {
  400: "bad_request: the body is not valid JSON or does not match the schema (it never " +
    "counts as a login attempt); invalid_request: a query parameter is out of range",
  401: "No valid credential: a missing, unknown or revoked key, or no session",
  403: "The key's scope (permission key:<action> or key:room) or the room's rules refuse " +
    "it; or forbidden (a foreign Origin) or origin_required (a session cookie without " +
    "Origin or Sec-Fetch-Site: same-origin)",
  404: "No such room, user, message, file, key or webhook",
  409: "A room or user by that name exists, the bot is not in the room, or the message " +
    "holds as many reactions as it may (too_many_reactions)",
  413: "too_large: the body is over 32 KiB; answered before it is read",
  415: "unsupported_media_type: the body is not sent as Content-Type: application/json",
  429: "Rate limited: see Retry-After and retryAfterMs",
};

/** Accounts, sessions and server administration: what the web client and admins use. */
function accountPaths(): Json {
  const signedIn = (status: string) => ({ [status]: answer("Signed in", ref("SignedIn")) });
  return {
    "/api/register": {
      post: op(
        "Create an account (the first on a fresh server is its admin) and sign in.",
        [],
        { requestBody: body("RegisterBody") },
        signedIn("201"),
        [400, 403, 409],
      ),
    },
    "/api/login": {
      post: op(
        "Sign in with a password; failures are throttled per address and per username.",
        [],
        { requestBody: body("LoginBody") },
        signedIn("200"),
        [400, 401, 403, 429],
      ),
    },
    "/api/token": {
      post: op(
        "A session token for bots and native clients, in exchange for a password.",
        [],
        { requestBody: body("LoginBody") },
        { "200": answer("The token", ref("IssuedToken")) },
        [400, 401, 403, 429],
      ),
    },
    "/api/logout": {
      post: op(
        "End this session, or every session of the user; their sockets close with 4004.",
        SIGNED_IN,
        { requestBody: optionalBody("LogoutBody") },
        { "204": answer("Signed out; the cookie is cleared") },
        [],
      ),
    },
    "/api/guest": {
      post: op(
        "Continue as a guest (when the server admits guests).",
        [],
        { requestBody: optionalBody("EmptyBody") },
        signedIn("201"),
        [403],
      ),
    },
    "/api/ticket": {
      post: op(
        "A single-use, short-lived ticket to open one WebSocket from another origin.",
        SIGNED_IN,
        { requestBody: optionalBody("EmptyBody") },
        { "200": answer("The ticket", ref("Ticket")) },
        [401],
      ),
    },
    "/api/admin/invites": {
      post: op(
        "An invitation code, for registration by invitation.",
        ADMIN,
        { requestBody: optionalBody("EmptyBody") },
        { "201": answer("The code", ref("Invite")) },
        [401, 403],
      ),
    },
    "/api/admin/users/{id}": {
      parameters: [pathParam("id", "The user's id")],
      patch: op("Change a user's server role, or disable them.", ADMIN, {
        requestBody: body("UserPatch"),
      }, {
        "200": answer("The user", { type: "object", properties: { user: { type: "object" } } }),
      }, [401, 403, 404]),
    },
    "/api/admin/rooms/{room}": {
      parameters: [ROOM],
      patch: op("Disable a room, or enable it again.", ADMIN, {
        requestBody: body("RoomPatch"),
      }, {
        "200": answer("The room", {
          type: "object",
          properties: { room: ref("RoomInfo") },
          required: ["room"],
        }),
      }, [401, 403, 404]),
    },
  };
}

/** The API as OpenAPI 3.1; its schemas are JSON Schema 2020-12, straight from zod. */
export function openApiDocument(): Json {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: "any",
  }) as { schemas: Record<string, Json> };
  const schemas: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(generated.schemas)) {
    const { $schema: _, $id: __, ...rest } = schema;
    schemas[id] = rest;
  }
  const responses = Object.fromEntries(
    Object.entries(ERROR_TEXT).map(([status, description]) => [
      `E${status}`,
      answer(description, ref("ApiError")),
    ]),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "Parley server API",
      version: "1",
      description: "Bots post, read and moderate with API keys (`Authorization: Bearer pk_…`), " +
        "under the same room permissions as people; admins issue keys and webhooks with " +
        "their session. Outgoing webhooks POST WebhookPayload, signed with " +
        "`x-parley-signature: sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)>`.",
    },
    components: {
      schemas,
      responses,
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "An API key: pk_<id>_<secret>" },
        sessionToken: {
          type: "http",
          scheme: "bearer",
          description: "An admin's session token from POST /api/token",
        },
        session: { type: "apiKey", in: "cookie", name: "parley_session" },
      },
    },
    paths: paths(),
  };
}
