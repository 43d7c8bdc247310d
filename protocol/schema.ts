/**
 * The one schema source for the wire protocol. Runtime validation and the
 * TypeScript types in `messages.ts` both come from here, and so does the JSON
 * Schema served at `GET /protocol.json`.
 */
import * as z from "zod";
import { ERROR_CODE_LIST } from "./errors.ts";
import { LIMITS, PROTOCOL_VERSIONS, ROOM_NAME_PATTERN } from "./limits.ts";
import { ROOM_KINDS, ROOM_ROLES, SERVER_ROLES } from "./permissions.ts";

export const REQUEST_ID_MAX = 2 ** 31 - 1;
export const NONCE_MIN_CHARS = 8;
const RequestId = z.int().min(0).max(REQUEST_ID_MAX).describe(
  "Client-chosen id echoed in the reply",
);
export const RoomName = z.string().regex(ROOM_NAME_PATTERN).describe("Room name (slug)");
const Seq = z.int().min(0).describe("Per-room sequence number, gapless from 1");
const Text = z.string().max(LIMITS.messageChars).refine((s) => s.trim().length > 0, {
  message: "text is empty",
});
const Topic = z.string().max(LIMITS.topicChars);

export const Member = z.strictObject({ id: z.string(), name: z.string() });

export const ServerRole = z.enum(SERVER_ROLES).describe("admin, user, or a read-mostly guest");
export const RoomRole = z.enum(ROOM_ROLES).describe("A member's role in one room");
export const RoomKind = z.enum(ROOM_KINDS).describe(
  "public: anyone may join; private: by invitation; announcement: only moderators post; " +
    "dm: two users, no one else",
);
const UserRef = z.string().min(1).max(128).describe("A user's id");
const Reason = z.string().max(LIMITS.reasonChars);
const Title = z.string().max(LIMITS.displayNameChars);

/** One emoji (with its modifiers and joiners), as a reaction carries it. */
export const EMOJI_PATTERN =
  /^(?=.*[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3])[\p{Extended_Pictographic}\p{Emoji_Component}\p{Emoji_Modifier}\u200d\ufe0f\u20e3]{1,32}$/u;
export const Emoji = z.string().max(32).regex(EMOJI_PATTERN).describe("One Unicode emoji");

export const Reaction = z.strictObject({
  emoji: Emoji,
  users: z.array(Member).describe("Who reacted with it, oldest first"),
});

export const ReplyRef = z.strictObject({
  seq: Seq,
  author: Member,
  text: z.string().max(LIMITS.replyExcerptChars).describe(
    "The start of the original's text when the reply was sent",
  ),
}).describe("The message a reply answers, as it was quoted");

export const FileRef = z.strictObject({
  id: z.string().max(64),
  name: z.string().max(LIMITS.fileNameChars),
  type: z.string().max(128).describe("Media type, sniffed by the server from the content"),
  size: z.int().min(0).describe("Bytes"),
  width: z.int().min(1).optional().describe("Images: pixels"),
  height: z.int().min(1).optional().describe("Images: pixels"),
}).describe("An uploaded file; its bytes are at GET /files/{id}/{name}");

/**
 * One entry of a room's stream. Every entry takes the next `seq`, so a client that
 * replays from its last seq misses nothing: new messages (`text`), and edits, deletions
 * and reactions to earlier ones, which name their `target`. Entries read back from
 * history show a text message as it is now: edited text, reactions, or a tombstone.
 */
export const Message = z.strictObject({
  id: z.string(),
  room: RoomName,
  seq: Seq,
  kind: z.enum(["text", "edit", "delete", "react"]),
  author: Member.describe("Who wrote it; for edit, delete and react, who acted"),
  text: z.string().describe(
    "Message text (Markdown); the new text of an edit; empty when deleted and for react",
  ),
  ts: z.number().describe("Commit time, ms since the Unix epoch"),
  nonce: z.string().optional().describe("The sender's nonce, so its own client can match it"),
  target: Seq.optional().describe("For edit, delete and react: the seq of the text message"),
  editedAt: z.number().optional().describe("For text: when it was last edited"),
  deleted: z.literal(true).optional().describe("For text: a tombstone"),
  emoji: Emoji.optional().describe("For react: the emoji added or removed"),
  remove: z.literal(true).optional().describe("For react: the reaction was taken back"),
  reactions: z.array(Reaction).optional().describe("For text: its reactions now"),
  replyTo: ReplyRef.optional().describe("For text: the message it replies to"),
  mentions: z.array(z.string()).optional().describe(
    'For text: lower-case names it mentions; "room" for @room, from a moderator',
  ),
  file: FileRef.optional().describe("For text: an attached file"),
});

export const Retention = z.strictObject({
  maxAgeDays: z.number().positive().max(36500).optional(),
  maxCount: z.int().positive().optional(),
}).describe("Older messages are removed; absent limits mean keep forever");

export const RoomInfo = z.strictObject({
  name: RoomName,
  kind: RoomKind,
  title: z.string().describe("Display name; empty shows `name`"),
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
  role: RoomRole.optional().describe("Caller only: the caller's role, when a member"),
  mutedUntil: z.number().optional().describe("Caller only: muted until this time"),
  peers: z.array(Member).optional().describe("For dm: the two users"),
  disabled: z.literal(true).optional().describe("An admin disabled the room"),
  members: z.int().min(0).optional().describe("How many members it has (room.directory)"),
  mentions: z.int().min(0).optional().describe(
    "Caller only: unread messages that mention the caller or @room (capped at 100)",
  ),
});

export const RoomMember = z.strictObject({
  user: Member,
  role: RoomRole,
  online: z.boolean(),
  mutedUntil: z.number().optional(),
});

export const Ban = z.strictObject({
  user: Member,
  until: z.number().nullable().describe("null: for ever"),
  by: Member,
  reason: z.string(),
});

export const ModerationAction = z.enum([
  "invite",
  "kick",
  "ban",
  "unban",
  "mute",
  "unmute",
  "role",
  "update",
  "delete",
]);

/** One moderation action, as the room's members see it and its log records it. */
export const ModerationEvent = z.strictObject({
  id: z.string(),
  room: RoomName,
  action: ModerationAction,
  actor: Member,
  target: Member.optional().describe("Whom it was done to; absent for room-wide actions"),
  ts: z.number(),
  until: z.number().nullable().optional().describe("ban, mute: when it ends; null for ever"),
  role: RoomRole.optional().describe("role: the new role"),
  reason: z.string().optional(),
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
  kind: RoomKind.exclude(["dm"]).optional().describe(
    "public unless said; dm rooms come from dm.open",
  ),
  title: Title.optional(),
  topic: Topic.optional(),
  receipts: z.boolean().optional(),
  retention: Retention.optional(),
});
export const RoomUpdateRequest = z.strictObject({
  type: z.literal("room.update"),
  id: RequestId,
  room: RoomName,
  title: Title.optional(),
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
  text: Text.optional().describe("Markdown; may be absent only with `file`"),
  nonce: z.string().min(NONCE_MIN_CHARS).max(LIMITS.nonceChars).describe(
    "Idempotency key for resends",
  ),
  replyTo: Seq.optional().describe("Reply to this message of the room"),
  file: z.string().min(1).max(64).optional().describe(
    "Attach a file uploaded to this room by the sender (POST /api/rooms/{room}/files)",
  ),
});
export const ReactRequest = z.strictObject({
  type: z.literal("react"),
  id: RequestId,
  room: RoomName,
  seq: Seq.describe("The text message reacted to"),
  emoji: Emoji,
  remove: z.boolean().optional().describe("Take your reaction back"),
});
export const SearchRequest = z.strictObject({
  type: z.literal("search"),
  id: RequestId,
  text: z.string().max(LIMITS.searchChars).optional().describe(
    "Words that must all occur (whole words, any case)",
  ),
  room: RoomName.optional().describe("Only this room; absent: every room you are a member of"),
  author: UserRef.optional().describe("Only messages by this user id"),
  from: z.number().optional().describe("Only messages at or after this time (ms)"),
  to: z.number().optional().describe("Only messages before this time (ms)"),
  replyTo: Seq.optional().describe("With `room`: only replies to this message (a thread)"),
  cursor: z.string().max(200).optional().describe("`next` from the previous page"),
  limit: z.int().min(1).max(LIMITS.searchPageMax).optional(),
});
export const RoomDirectoryRequest = z.strictObject({
  type: z.literal("room.directory"),
  id: RequestId,
  query: z.string().max(LIMITS.displayNameChars).optional().describe(
    "Part of a name, title or topic",
  ),
  cursor: z.string().max(200).optional().describe("`next` from the previous page"),
  limit: z.int().min(1).max(LIMITS.historyPageMax).optional(),
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

const RoomTarget = { id: RequestId, room: RoomName, user: UserRef };
const Minutes = z.int().min(1).max(60 * 24 * 366);
export const RoomDeleteRequest = z.strictObject({
  type: z.literal("room.delete"),
  id: RequestId,
  room: RoomName,
});
export const RoomMembersRequest = z.strictObject({
  type: z.literal("room.members"),
  id: RequestId,
  room: RoomName,
});
export const RoomInviteRequest = z.strictObject({ type: z.literal("room.invite"), ...RoomTarget });
export const RoomKickRequest = z.strictObject({
  type: z.literal("room.kick"),
  ...RoomTarget,
  reason: Reason.optional(),
});
export const RoomBanRequest = z.strictObject({
  type: z.literal("room.ban"),
  ...RoomTarget,
  minutes: Minutes.optional().describe("Absent: for ever"),
  reason: Reason.optional(),
});
export const RoomUnbanRequest = z.strictObject({ type: z.literal("room.unban"), ...RoomTarget });
export const RoomMuteRequest = z.strictObject({
  type: z.literal("room.mute"),
  ...RoomTarget,
  minutes: Minutes,
  reason: Reason.optional(),
});
export const RoomUnmuteRequest = z.strictObject({ type: z.literal("room.unmute"), ...RoomTarget });
export const RoomRoleRequest = z.strictObject({
  type: z.literal("room.role"),
  ...RoomTarget,
  role: RoomRole,
});
export const RoomModlogRequest = z.strictObject({
  type: z.literal("room.modlog"),
  id: RequestId,
  room: RoomName,
  before: z.number().optional().describe("Entries older than this time"),
  limit: z.int().min(1).max(LIMITS.historyPageMax).optional(),
});
export const DmOpenRequest = z.strictObject({
  type: z.literal("dm.open"),
  id: RequestId,
  user: UserRef,
});
export const UserFindRequest = z.strictObject({
  type: z.literal("user.find"),
  id: RequestId,
  name: z.string().min(1).max(LIMITS.displayNameChars),
});
export const COMMAND_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
export const CommandRequest = z.strictObject({
  type: z.literal("command"),
  id: RequestId,
  room: RoomName.describe("The room the command was typed in"),
  name: z.string().regex(COMMAND_NAME_PATTERN).describe("Without the slash: kick, me, help…"),
  args: z.string().max(LIMITS.messageChars).describe("Everything after the name"),
});
export const CommandInfo = z.strictObject({
  name: z.string(),
  usage: z.string().describe('e.g. "/kick <user> [reason]"'),
  description: z.string(),
});
export const Features = z.strictObject({
  directMessages: z.boolean(),
  receipts: z.boolean(),
  edits: z.boolean(),
  guests: z.boolean(),
});

export const AuthRefreshRequest = z.strictObject({
  type: z.literal("auth.refresh"),
  id: RequestId,
  token: z.string().min(1).max(8192).describe("A fresh JWT for the same subject"),
});

export const ClientFrame = z.discriminatedUnion("type", [
  HelloRequest,
  RoomCreateRequest,
  RoomUpdateRequest,
  RoomListRequest,
  RoomJoinRequest,
  RoomLeaveRequest,
  SendRequest,
  ReactRequest,
  SearchRequest,
  RoomDirectoryRequest,
  HistoryRequest,
  EditRequest,
  DeleteRequest,
  ReadRequest,
  TypingRequest,
  PingRequest,
  RoomDeleteRequest,
  RoomMembersRequest,
  RoomInviteRequest,
  RoomKickRequest,
  RoomBanRequest,
  RoomUnbanRequest,
  RoomMuteRequest,
  RoomUnmuteRequest,
  RoomRoleRequest,
  RoomModlogRequest,
  DmOpenRequest,
  UserFindRequest,
  AuthRefreshRequest,
  CommandRequest,
]);

/** The `ok` payload of a successful reply, per request type. */
export const Results = {
  hello: z.strictObject({
    v: z.int(),
    user: Member,
    role: ServerRole,
    expiresAt: z.number().optional().describe(
      "When the credential behind this socket expires; refresh it before with auth.refresh",
    ),
    epoch: z.string().describe("Changes when the server's history is reset"),
    features: Features.optional().describe("What this server has switched on"),
    commands: z.array(CommandInfo).optional().describe("Slash commands, for completion"),
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
  react: z.strictObject({ message: Message.describe("The react entry") }),
  search: z.strictObject({
    messages: z.array(Message).describe("Newest first, as each message is now"),
    next: z.string().optional().describe("Cursor of the next page; absent on the last"),
  }),
  "room.directory": z.strictObject({
    rooms: z.array(RoomInfo).describe("Public and announcement rooms, with `members`"),
    next: z.string().optional().describe("Cursor of the next page; absent on the last"),
  }),
  history: z.strictObject({ messages: z.array(Message), hasMore: z.boolean() }),
  edit: z.strictObject({ message: Message }),
  delete: z.strictObject({ message: Message }),
  read: z.strictObject({ seq: Seq }),
  typing: z.strictObject({}),
  ping: z.strictObject({ ts: z.number() }),
  "room.delete": z.strictObject({}),
  "room.members": z.strictObject({
    members: z.array(RoomMember),
    bans: z.array(Ban).optional().describe("Moderators only"),
    invited: z.array(Member).optional().describe("Moderators only: pending invitations"),
  }),
  "room.invite": z.strictObject({}),
  "room.kick": z.strictObject({}),
  "room.ban": z.strictObject({}),
  "room.unban": z.strictObject({}),
  "room.mute": z.strictObject({}),
  "room.unmute": z.strictObject({}),
  "room.role": z.strictObject({}),
  "room.modlog": z.strictObject({ entries: z.array(ModerationEvent), hasMore: z.boolean() }),
  "dm.open": z.strictObject({ room: RoomInfo }),
  "user.find": z.strictObject({ user: Member }),
  "auth.refresh": z.strictObject({ expiresAt: z.number() }),
  command: z.strictObject({
    text: z.string().optional().describe("Feedback to show the user who ran it"),
    message: Message.optional().describe("The message it posted, if any"),
  }),
} as const;

// ---- server -> client ---------------------------------------------------------------------

export const ErrorBody = z.strictObject({
  code: z.enum(ERROR_CODE_LIST as [string, ...string[]]),
  message: z.string(),
  retryAfterMs: z.int().min(0).optional(),
  permission: z.string().optional().describe("With forbidden: the permission that is missing"),
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

export const ModerationPush = z.strictObject({
  type: z.literal("moderation"),
  event: ModerationEvent,
}).describe("A moderation action in one of your rooms, or done to you");
export const CustomPush = z.strictObject({
  type: z.literal("custom"),
  name: z.string().regex(/^x\.[a-z0-9_.-]{1,60}$/).describe("The application's push name"),
  room: RoomName.optional(),
  data: z.unknown(),
}).describe("A push from an application-defined frame handler");
export const RoomRemovedPush = z.strictObject({
  type: z.literal("room.removed"),
  room: RoomName,
  reason: z.enum(["kicked", "banned", "deleted", "disabled", "left"]).describe(
    "left: you left it from another of your devices",
  ),
}).describe("You are no longer in this room");

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
  ModerationPush,
  RoomRemovedPush,
  CustomPush,
]);

/** Several server frames sent as one WebSocket message (frame coalescing). */
export const ServerBatch = z.array(ServerFrame).min(1);

/** The protocol as JSON Schema, for clients in other languages, with any custom frames. */
export function protocolJsonSchema(
  custom: { type: string; request: z.ZodType; result?: z.ZodType }[] = [],
): Record<string, unknown> {
  const results: Record<string, unknown> = {};
  for (const [type, schema] of Object.entries(Results)) {
    results[type] = z.toJSONSchema(schema, { unrepresentable: "any" });
  }
  const client = z.toJSONSchema(ClientFrame, { unrepresentable: "any" }) as {
    oneOf: unknown[];
  };
  for (const frame of custom) {
    const { $schema: _, ...request } = z.toJSONSchema(frame.request, { unrepresentable: "any" });
    client.oneOf.push(request);
    results[frame.type] = frame.result
      ? z.toJSONSchema(frame.result, { unrepresentable: "any" })
      : {};
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Parley chat protocol",
    versions: [...PROTOCOL_VERSIONS],
    limits: LIMITS,
    roomNamePattern: ROOM_NAME_PATTERN.source,
    client,
    server: z.toJSONSchema(z.union([ServerFrame, ServerBatch]), { unrepresentable: "any" }),
    results,
  };
}
