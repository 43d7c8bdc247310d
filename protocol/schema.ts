/**
 * The one schema source for the wire protocol. Runtime validation and the
 * TypeScript types in `messages.ts` both come from here, and so does the JSON
 * Schema served at `GET /protocol.json`.
 */
import { z } from "zod";
import { ERROR_CODE_LIST } from "./errors.ts";
import { LIMITS, PROTOCOL_VERSIONS, ROOM_NAME_PATTERN } from "./limits.ts";

const RequestId = z.int().min(0).max(2 ** 31 - 1).describe("Client-chosen id echoed in the reply");
export const RoomName = z.string().regex(ROOM_NAME_PATTERN).describe("Room name (slug)");
const Seq = z.int().min(0).describe("Per-room sequence number, gapless from 1");
const Text = z.string().max(LIMITS.messageChars).refine((s) => s.trim().length > 0, {
  message: "text is empty",
});
const Topic = z.string().max(LIMITS.topicChars);

export const Member = z.strictObject({ id: z.string(), name: z.string() });

export const Message = z.strictObject({
  id: z.string(),
  room: RoomName,
  seq: Seq,
  author: Member,
  text: z.string(),
  ts: z.number().describe("Commit time, ms since the Unix epoch"),
  nonce: z.string().optional().describe("The sender's nonce, so its own client can match it"),
});

export const RoomInfo = z.strictObject({
  name: RoomName,
  topic: z.string(),
  createdAt: z.number(),
  lastSeq: Seq,
  online: z.int().min(0).describe("Users online in the room on this server"),
});

// ---- client -> server requests ------------------------------------------------------------

export const HelloRequest = z.strictObject({
  type: z.literal("hello"),
  id: RequestId,
  v: z.array(z.int().min(1)).min(1).max(8).describe("Protocol versions the client speaks"),
});
export const RoomCreateRequest = z.strictObject({
  type: z.literal("room.create"),
  id: RequestId,
  room: RoomName,
  topic: Topic.optional(),
});
export const RoomListRequest = z.strictObject({ type: z.literal("room.list"), id: RequestId });
export const RoomJoinRequest = z.strictObject({
  type: z.literal("room.join"),
  id: RequestId,
  room: RoomName,
  limit: z.int().min(0).max(LIMITS.historyPageMax).optional(),
});
export const RoomLeaveRequest = z.strictObject({
  type: z.literal("room.leave"),
  id: RequestId,
  room: RoomName,
});
export const SendRequest = z.strictObject({
  type: z.literal("send"),
  id: RequestId,
  room: RoomName,
  text: Text,
  nonce: z.string().min(8).max(LIMITS.nonceChars).describe("Idempotency key for resends"),
});
export const HistoryRequest = z.strictObject({
  type: z.literal("history"),
  id: RequestId,
  room: RoomName,
  before: Seq.optional().describe("Return messages with seq below this; latest page if absent"),
  limit: z.int().min(1).max(LIMITS.historyPageMax).optional(),
});
export const TypingRequest = z.strictObject({
  type: z.literal("typing"),
  id: RequestId,
  room: RoomName,
  active: z.boolean(),
});
export const PingRequest = z.strictObject({ type: z.literal("ping"), id: RequestId });

export const ClientFrame = z.discriminatedUnion("type", [
  HelloRequest,
  RoomCreateRequest,
  RoomListRequest,
  RoomJoinRequest,
  RoomLeaveRequest,
  SendRequest,
  HistoryRequest,
  TypingRequest,
  PingRequest,
]);

/** The `ok` payload of a successful reply, per request type. */
export const Results = {
  hello: z.strictObject({
    v: z.int(),
    user: Member,
    epoch: z.string().describe("Changes when the server's history is reset"),
    limits: z.record(z.string(), z.number()),
  }),
  "room.create": z.strictObject({ room: RoomInfo }),
  "room.list": z.strictObject({ rooms: z.array(RoomInfo) }),
  "room.join": z.strictObject({
    room: RoomInfo,
    messages: z.array(Message),
    hasMore: z.boolean(),
    presence: z.array(Member).describe("Snapshot; `presence` pushes carry diffs after it"),
  }),
  "room.leave": z.strictObject({}),
  send: z.strictObject({ message: Message, duplicate: z.boolean() }),
  history: z.strictObject({ messages: z.array(Message), hasMore: z.boolean() }),
  typing: z.strictObject({}),
  ping: z.strictObject({ ts: z.number() }),
} as const;

// ---- server -> client ---------------------------------------------------------------------

export const ErrorBody = z.strictObject({
  code: z.enum(ERROR_CODE_LIST as [string, ...string[]]),
  message: z.string(),
  retryAfterMs: z.int().min(0).optional(),
});

export const ReplyOk = z.strictObject({
  type: z.literal("reply"),
  id: RequestId,
  ok: z.union(Object.values(Results)),
});
export const ReplyError = z.strictObject({
  type: z.literal("reply"),
  id: RequestId,
  error: ErrorBody,
});
export const ErrorPush = z.strictObject({
  type: z.literal("error"),
  error: ErrorBody,
}).describe("An error that cannot be tied to a request id, e.g. malformed JSON");
export const MessagePush = z.strictObject({ type: z.literal("message"), message: Message });
export const PresencePush = z.strictObject({
  type: z.literal("presence"),
  room: RoomName,
  joins: z.array(Member),
  leaves: z.array(Member),
});
export const TypingPush = z.strictObject({
  type: z.literal("typing"),
  room: RoomName,
  user: Member,
  active: z.boolean(),
});
export const RoomPush = z.strictObject({ type: z.literal("room"), room: RoomInfo })
  .describe("A room was created or changed");

export const ServerFrame = z.union([
  ReplyOk,
  ReplyError,
  ErrorPush,
  MessagePush,
  PresencePush,
  TypingPush,
  RoomPush,
]);

/** Several server frames sent as one WebSocket message (frame coalescing). */
export const ServerBatch = z.array(ServerFrame).min(1);

/** The protocol as JSON Schema, for clients in other languages. */
export function protocolJsonSchema(): Record<string, unknown> {
  const results: Record<string, unknown> = {};
  for (const [type, schema] of Object.entries(Results)) {
    results[type] = z.toJSONSchema(schema, { unrepresentable: "any" });
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Parley chat protocol",
    versions: [...PROTOCOL_VERSIONS],
    limits: LIMITS,
    roomNamePattern: ROOM_NAME_PATTERN.source,
    client: z.toJSONSchema(ClientFrame, { unrepresentable: "any" }),
    server: z.toJSONSchema(z.union([ServerFrame, ServerBatch]), { unrepresentable: "any" }),
    results,
  };
}
