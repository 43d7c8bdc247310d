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

/**
 * One entry of a room's stream. Every entry takes the next `seq`, so a client that
 * replays from its last seq misses nothing: new messages (`text`), and edits and
 * deletions of earlier ones, which name their `target`. Entries read back from
 * history show a text message as it is now: edited text, or a tombstone.
 */
export const Message = z.strictObject({
  id: z.string(),
  room: RoomName,
  seq: Seq,
  kind: z.enum(["text", "edit", "delete"]),
  author: Member.describe("Who wrote it; for edit and delete, who acted"),
  text: z.string().describe("Message text; the new text of an edit; empty when deleted"),
  ts: z.number().describe("Commit time, ms since the Unix epoch"),
  nonce: z.string().optional().describe("The sender's nonce, so its own client can match it"),
  target: Seq.optional().describe("For edit and delete: the seq of the text message"),
  editedAt: z.number().optional().describe("For text: when it was last edited"),
  deleted: z.literal(true).optional().describe("For text: a tombstone"),
});

export const Retention = z.strictObject({
  maxAgeDays: z.number().positive().max(36500).optional(),
  maxCount: z.int().positive().optional(),
}).describe("Older messages are removed; absent limits mean keep forever");

export const RoomInfo = z.strictObject({
  name: RoomName,
  topic: z.string(),
  createdAt: z.number(),
  createdBy: z.string(),
  lastSeq: Seq,
  online: z.int().min(0).describe("Users online in the room on this server"),
  receipts: z.boolean().describe("Members see who has read up to where"),
  retention: Retention.optional(),
  member: z.boolean().optional().describe("Caller only: the caller has joined this room"),
  unread: z.int().min(0).optional().describe(
    "Caller only: text messages from others after the read marker (capped at 100)",
  ),
  readSeq: Seq.optional().describe("Caller only: the caller's read marker"),
});

export const Receipt = z.strictObject({ user: Member, seq: Seq });

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
  receipts: z.boolean().optional(),
  retention: Retention.optional(),
});
export const RoomUpdateRequest = z.strictObject({
  type: z.literal("room.update"),
  id: RequestId,
  room: RoomName,
  topic: Topic.optional(),
  receipts: z.boolean().optional(),
  retention: Retention.nullable().optional().describe("null removes the room's own limits"),
});
export const RoomListRequest = z.strictObject({ type: z.literal("room.list"), id: RequestId });
export const RoomJoinRequest = z.strictObject({
  type: z.literal("room.join"),
  id: RequestId,
  room: RoomName,
  limit: z.int().min(0).max(LIMITS.historyPageMax).optional(),
  after: Seq.optional().describe("Recover: the last seq this client has seen in the room"),
  epoch: z.string().max(64).optional().describe("With `after`: the epoch that seq belongs to"),
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
  before: Seq.optional().describe("Entries with seq below this; the latest page if neither is set"),
  after: Seq.optional().describe("Entries with seq above this, oldest first"),
  limit: z.int().min(1).max(LIMITS.historyPageMax).optional(),
});
export const EditRequest = z.strictObject({
  type: z.literal("edit"),
  id: RequestId,
  room: RoomName,
  seq: Seq,
  text: Text,
});
export const DeleteRequest = z.strictObject({
  type: z.literal("delete"),
  id: RequestId,
  room: RoomName,
  seq: Seq,
});
export const ReadRequest = z.strictObject({
  type: z.literal("read"),
  id: RequestId,
  room: RoomName,
  seq: Seq.describe("Everything up to and including this seq has been read"),
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
  RoomUpdateRequest,
  RoomListRequest,
  RoomJoinRequest,
  RoomLeaveRequest,
  SendRequest,
  HistoryRequest,
  EditRequest,
  DeleteRequest,
  ReadRequest,
  TypingRequest,
  PingRequest,
]);

/** The `ok` payload of a successful reply, per request type. */
export const Results = {
  hello: z.strictObject({
    v: z.int(),
    user: Member,
    epoch: z.string().describe("Changes when the server's history is reset"),
    instance: z.string().describe("Which server instance (worker, process) holds this socket"),
    limits: z.record(z.string(), z.number()),
  }),
  "room.create": z.strictObject({ room: RoomInfo }),
  "room.update": z.strictObject({ room: RoomInfo }),
  "room.list": z.strictObject({ rooms: z.array(RoomInfo) }),
  "room.join": z.strictObject({
    room: RoomInfo,
    messages: z.array(Message).describe("The latest page, or with `after` every entry since"),
    hasMore: z.boolean().describe("Older entries exist before this page"),
    presence: z.array(Member).describe("Snapshot; `presence` pushes carry diffs after it"),
    recovered: z.boolean().optional().describe(
      "With `after`: true when `messages` holds everything since it; false when the gap " +
        "was too large or the epoch changed, and `messages` is the latest page instead",
    ),
    receipts: z.array(Receipt).optional().describe("Members' read markers, in rooms with receipts"),
  }),
  "room.leave": z.strictObject({}),
  send: z.strictObject({ message: Message, duplicate: z.boolean() }),
  history: z.strictObject({ messages: z.array(Message), hasMore: z.boolean() }),
  edit: z.strictObject({ message: Message }),
  delete: z.strictObject({ message: Message }),
  read: z.strictObject({ seq: Seq }),
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
export const ReceiptPush = z.strictObject({
  type: z.literal("receipt"),
  room: RoomName,
  user: Member,
  seq: Seq,
}).describe("A member read up to seq (rooms with receipts)");
export const ReadPush = z.strictObject({
  type: z.literal("read"),
  room: RoomName,
  seq: Seq,
}).describe("Your read marker moved, from another of your devices");

export const ServerFrame = z.union([
  ReplyOk,
  ReplyError,
  ErrorPush,
  MessagePush,
  PresencePush,
  TypingPush,
  RoomPush,
  ReceiptPush,
  ReadPush,
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
