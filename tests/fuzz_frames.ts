/**
 * fast-check arbitraries for the wire protocol: a valid frame of every client type (drawn
 * to the edges of each limit), hostile JSON, and mutations of valid frames.
 */
import fc from "fast-check";
import { LIMITS, ROOM_NAME_PATTERN } from "../protocol/limits.ts";
import type { ClientFrame } from "../protocol/messages.ts";
import { ROOM_ROLES } from "../protocol/permissions.ts";
import { COMMAND_NAME_PATTERN, NONCE_MIN_CHARS, REQUEST_ID_MAX } from "../protocol/schema.ts";

/** Characters that stress text handling: whitespace of every kind, astral, surrogates. */
const TRICKY = [
  " ",
  "\t",
  "\n",
  "\r",
  "\u00a0",
  "\u2028",
  "\u200b",
  "\ufeff",
  "\u3000",
  "é",
  "ж",
  "😀",
  "\ud83d",
  "\ude00",
  "\u0000",
  '"',
  "\\",
];

/** Strings from plain, full-Unicode and tricky characters, to `max` code units. */
export function text(min: number, max: number): fc.Arbitrary<string> {
  const unit = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(..."abc xyz019_-".split("")) },
    { weight: 2, arbitrary: fc.constantFrom(...TRICKY) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  );
  const short = fc.array(unit, { maxLength: Math.min(max, 40) }).map((parts) => parts.join(""));
  // Near the cap: a long run of one character, then a short random tail.
  const long = fc.tuple(fc.integer({ min: Math.max(0, max - 8), max }), short).map((
    [n, tail],
  ) => ("x".repeat(n) + tail).slice(0, max));
  return fc.oneof({ weight: 5, arbitrary: short }, { weight: 1, arbitrary: long })
    .filter((s) => s.length >= min && s.length <= max);
}

/** Text the protocol accepts: at most the cap and not only whitespace. */
export const messageText = text(1, LIMITS.messageChars).filter((s) => s.trim().length > 0);

export const requestId = fc.oneof(
  fc.constantFrom(0, 1, REQUEST_ID_MAX),
  fc.integer({ min: 0, max: REQUEST_ID_MAX }),
);
export const roomName = fc.oneof(
  fc.constantFrom("general", "a", "0", "r".repeat(32)),
  fc.stringMatching(ROOM_NAME_PATTERN),
);
export const seq = fc.oneof(fc.constantFrom(0, 1, 2, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
export const nonce = fc.string({ minLength: NONCE_MIN_CHARS, maxLength: LIMITS.nonceChars });
const userRef = fc.string({ minLength: 1, maxLength: 128 });
/** Emoji as reactions carry them: plain, with a modifier, joined, flags, keycaps. */
const emoji = fc.constantFrom("👍", "❤️", "🎉", "👍🏽", "👩‍💻", "🇫🇷", "1️⃣", "🏳️‍🌈");
const minutes = fc.integer({ min: 1, max: 60 * 24 * 366 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const retention = fc.record({
  maxAgeDays: fc.double({ min: Number.MIN_VALUE, max: 36500, noNaN: true }),
  maxCount: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
}, { requiredKeys: [] });
const roomKind = fc.constantFrom("public" as const, "private" as const, "announcement" as const);

/** `fields` with every key optional, on top of the required type and id. */
function frame<T extends string, R extends Record<string, unknown>>(
  type: T,
  required: { [K in keyof R]: fc.Arbitrary<R[K]> },
  optional: Record<string, fc.Arbitrary<unknown>> = {},
): fc.Arbitrary<ClientFrame> {
  return fc.record({
    type: fc.constant(type),
    id: requestId,
    ...required,
    ...optional,
  }, { requiredKeys: ["type", "id", ...Object.keys(required)] as never }) as never;
}

/** One valid frame of each client type, every field drawn across its allowed range. */
export const VALID_FRAMES: Record<ClientFrame["type"], fc.Arbitrary<ClientFrame>> = {
  hello: frame("hello", {
    v: fc.array(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), {
      minLength: 1,
      maxLength: 8,
    }),
  }),
  "room.create": frame("room.create", { room: roomName }, {
    kind: roomKind,
    title: text(0, LIMITS.displayNameChars),
    topic: text(0, LIMITS.topicChars),
    receipts: fc.boolean(),
    retention,
  }),
  "room.update": frame("room.update", { room: roomName }, {
    title: text(0, LIMITS.displayNameChars),
    topic: text(0, LIMITS.topicChars),
    receipts: fc.boolean(),
    retention: fc.option(retention, { nil: null }),
  }),
  "room.list": frame("room.list", {}),
  "room.join": frame("room.join", { room: roomName }, {
    limit: fc.integer({ min: 0, max: LIMITS.historyPageMax }),
    after: seq,
    epoch: fc.string({ maxLength: 64 }),
  }),
  "room.leave": frame("room.leave", { room: roomName }),
  send: frame("send", { room: roomName, text: messageText, nonce }, {
    replyTo: seq,
    file: fc.string({ minLength: 1, maxLength: 64 }),
  }),
  react: frame("react", { room: roomName, seq, emoji }, { remove: fc.boolean() }),
  search: frame("search", {}, {
    text: text(0, LIMITS.searchChars),
    room: roomName,
    author: userRef,
    from: finite,
    to: finite,
    replyTo: seq,
    cursor: fc.string({ maxLength: 200 }),
    limit: fc.integer({ min: 1, max: LIMITS.searchPageMax }),
  }),
  "room.directory": frame("room.directory", {}, {
    query: text(0, LIMITS.displayNameChars),
    cursor: fc.string({ maxLength: 200 }),
    limit: fc.integer({ min: 1, max: LIMITS.historyPageMax }),
  }),
  history: frame("history", { room: roomName }, {
    before: seq,
    after: seq,
    limit: fc.integer({ min: 1, max: LIMITS.historyPageMax }),
  }),
  edit: frame("edit", { room: roomName, seq, text: messageText }),
  delete: frame("delete", { room: roomName, seq }),
  read: frame("read", { room: roomName, seq }),
  typing: frame("typing", { room: roomName, active: fc.boolean() }),
  ping: frame("ping", {}),
  "room.delete": frame("room.delete", { room: roomName }),
  "room.members": frame("room.members", { room: roomName }),
  "room.invite": frame("room.invite", { room: roomName, user: userRef }),
  "room.kick": frame("room.kick", { room: roomName, user: userRef }, {
    reason: text(0, LIMITS.reasonChars),
  }),
  "room.ban": frame("room.ban", { room: roomName, user: userRef }, {
    minutes,
    reason: text(0, LIMITS.reasonChars),
  }),
  "room.unban": frame("room.unban", { room: roomName, user: userRef }),
  "room.mute": frame("room.mute", { room: roomName, user: userRef, minutes }, {
    reason: text(0, LIMITS.reasonChars),
  }),
  "room.unmute": frame("room.unmute", { room: roomName, user: userRef }),
  "room.role": frame("room.role", {
    room: roomName,
    user: userRef,
    role: fc.constantFrom(...ROOM_ROLES),
  }),
  "room.modlog": frame("room.modlog", { room: roomName }, {
    before: finite,
    limit: fc.integer({ min: 1, max: LIMITS.historyPageMax }),
  }),
  "dm.open": frame("dm.open", { user: userRef }),
  "user.find": frame("user.find", { name: fc.string({ minLength: 1, maxLength: 32 }) }),
  "auth.refresh": frame("auth.refresh", { token: fc.string({ minLength: 1, maxLength: 200 }) }),
  command: frame("command", {
    room: roomName,
    name: fc.stringMatching(COMMAND_NAME_PATTERN),
    args: text(0, LIMITS.messageChars),
  }),
};

export const CLIENT_TYPES = Object.keys(VALID_FRAMES) as ClientFrame["type"][];
export const validFrame: fc.Arbitrary<ClientFrame> = fc.oneof(...Object.values(VALID_FRAMES));

/** Every field name some client frame has, and a few that none has. */
const FIELDS = [
  "type",
  "id",
  "v",
  "room",
  "text",
  "nonce",
  "seq",
  "limit",
  "before",
  "after",
  "epoch",
  "active",
  "user",
  "reason",
  "minutes",
  "role",
  "kind",
  "title",
  "topic",
  "receipts",
  "retention",
  "name",
  "args",
  "token",
  "__proto__",
  "constructor",
  "toString",
  "",
];
export const fieldName = fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 }));

/** JSON values that sit on the edges of the schemas' checks. */
export const edgyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    REQUEST_ID_MAX,
    REQUEST_ID_MAX + 1,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    -1e-308,
    "",
    " ",
    "general",
    "x".repeat(LIMITS.messageChars + 1),
    [],
    {},
    [1],
    { maxCount: 1 },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);

/** An object that looks like a frame: a known or unknown type and random fields. */
export const frameLike: fc.Arbitrary<Record<string, unknown>> = fc.tuple(
  fc.oneof(fc.constantFrom(...CLIENT_TYPES), fc.string({ maxLength: 12 }), edgyJson),
  fc.option(edgyJson, { nil: undefined }),
  fc.dictionary(fieldName, edgyJson, { maxKeys: 6 }),
).map(([type, id, rest]) => {
  const out: Record<string, unknown> = JSON.parse(JSON.stringify(rest));
  out.type = type;
  if (id !== undefined) out.id = id;
  return out;
});

/** A change to one valid frame, as JSON text: fields dropped, retyped, added, or bytes broken. */
export const mutatedFrame: fc.Arbitrary<string> = fc.tuple(
  validFrame,
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant("drop" as const), key: fieldName }),
      fc.record({ op: fc.constant("set" as const), key: fieldName, value: edgyJson }),
      fc.record({ op: fc.constant("type" as const), value: fc.constantFrom(...CLIENT_TYPES) }),
      fc.record({ op: fc.constant("idTo" as const), value: edgyJson }),
    ),
    { minLength: 1, maxLength: 3 },
  ),
  fc.option(
    fc.record({
      op: fc.constantFrom("cut", "insert", "delete", "replace"),
      at: fc.nat(),
      char: fc.constantFrom(...'{}[]":,\\ 0a-e'.split("")),
    }),
    { nil: undefined },
  ),
).map(([valid, edits, byteEdit]) => {
  const f: Record<string, unknown> = { ...valid };
  for (const edit of edits) {
    if (edit.op === "drop") delete f[edit.key];
    else if (edit.op === "set") Object.defineProperty(f, edit.key, { value: edit.value, ...OWN });
    else if (edit.op === "type") f.type = edit.value;
    else f.id = edit.value;
  }
  let raw = JSON.stringify(f);
  if (byteEdit) {
    const at = byteEdit.at % (raw.length + 1);
    if (byteEdit.op === "cut") raw = raw.slice(0, at);
    else if (byteEdit.op === "insert") raw = raw.slice(0, at) + byteEdit.char + raw.slice(at);
    else if (byteEdit.op === "delete") raw = raw.slice(0, at) + raw.slice(at + 1);
    else raw = raw.slice(0, at) + byteEdit.char + raw.slice(at + 1);
  }
  return raw;
});
const OWN = { enumerable: true, writable: true, configurable: true };

/** JSON text, valid or not, built from JSON's own characters, so the parser gets far. */
export const jsonishText: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789.-+eEtruefalsnl \\/u'.split("")) }),
  // Deep nesting inside an otherwise valid frame.
  fc.integer({ min: 1, max: 20_000 }).map((n) =>
    `{"type":"ping","id":1,"x":${"[".repeat(n)}${"]".repeat(n)}}`
  ),
);
