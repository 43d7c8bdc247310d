import assert from "node:assert/strict";
import { decodeClientFrame } from "../protocol/codec.ts";
import { CLOSE_CODES, ERROR_CODE_LIST, shouldReconnect } from "../protocol/errors.ts";
import { decodeServerData, encodeBatch } from "../protocol/frames.ts";
import { LIMITS, utf8Bytes } from "../protocol/limits.ts";
import type { ClientFrame, ServerFrame } from "../protocol/messages.ts";
import {
  ClientFrame as ClientSchema,
  protocolJsonSchema,
  ServerFrame as ServerSchema,
} from "../protocol/schema.ts";

const member = { id: "u_1", name: "Ada" };
const message = {
  id: "m1",
  room: "general",
  seq: 3,
  kind: "text" as const,
  author: member,
  text: "hi",
  ts: 1,
  nonce: "nonce-123",
  editedAt: 2,
};
const edit = {
  id: "m2",
  room: "general",
  seq: 4,
  kind: "edit" as const,
  author: member,
  text: "hey",
  ts: 2,
  target: 3,
};
const roomInfo = {
  name: "general",
  kind: "public" as const,
  title: "",
  topic: "",
  createdAt: 1,
  createdBy: "u_1",
  lastSeq: 3,
  online: 2,
  receipts: true,
  retention: { maxCount: 10 },
  member: true,
  unread: 2,
  readSeq: 1,
};

const CLIENT_SAMPLES: ClientFrame[] = [
  { type: "hello", id: 1, v: [1] },
  {
    type: "room.create",
    id: 2,
    room: "dev-talk",
    topic: "Deno",
    receipts: true,
    retention: { maxAgeDays: 30 },
  },
  { type: "room.update", id: 10, room: "dev-talk", topic: "Deno 2", retention: null },
  { type: "room.list", id: 3 },
  { type: "room.join", id: 4, room: "general", limit: 20, after: 17, epoch: "e-1" },
  { type: "room.leave", id: 5, room: "general" },
  { type: "send", id: 6, room: "general", text: "hello ✓ 👋", nonce: "abcdefgh12" },
  { type: "send", id: 28, room: "general", nonce: "abcdefgh13", replyTo: 3, file: "f_1" },
  { type: "react", id: 29, room: "general", seq: 3, emoji: "👍🏽", remove: true },
  {
    type: "search",
    id: 30,
    text: "deploy friday",
    room: "general",
    author: "u_2",
    from: 0,
    to: 1e13,
    limit: 20,
  },
  { type: "room.directory", id: 31, query: "dev", limit: 10, cursor: "abc" },
  { type: "history", id: 7, room: "general", before: 10, limit: 5 },
  { type: "edit", id: 11, room: "general", seq: 3, text: "fixed" },
  { type: "delete", id: 12, room: "general", seq: 3 },
  { type: "read", id: 13, room: "general", seq: 3 },
  { type: "typing", id: 8, room: "general", active: true },
  { type: "ping", id: 9 },
  { type: "room.delete", id: 14, room: "dev-talk" },
  { type: "room.members", id: 15, room: "dev-talk" },
  { type: "room.invite", id: 16, room: "dev-talk", user: "u_2" },
  { type: "room.kick", id: 17, room: "dev-talk", user: "u_2", reason: "spam" },
  { type: "room.ban", id: 18, room: "dev-talk", user: "u_2", minutes: 60 },
  { type: "room.unban", id: 19, room: "dev-talk", user: "u_2" },
  { type: "room.mute", id: 20, room: "dev-talk", user: "u_2", minutes: 10, reason: "calm" },
  { type: "room.unmute", id: 21, room: "dev-talk", user: "u_2" },
  { type: "room.role", id: 22, room: "dev-talk", user: "u_2", role: "moderator" },
  { type: "room.modlog", id: 23, room: "dev-talk", before: 5, limit: 20 },
  { type: "dm.open", id: 24, user: "u_2" },
  { type: "user.find", id: 25, name: "bob" },
  { type: "auth.refresh", id: 26, token: "a.b.c" },
  { type: "command", id: 27, room: "dev-talk", name: "kick", args: "bob too loud" },
];

const SERVER_SAMPLES: ServerFrame[] = [
  {
    type: "reply",
    id: 1,
    ok: {
      v: 1,
      user: member,
      role: "user",
      expiresAt: 5,
      epoch: "e",
      instance: "i",
      limits: { frameBytes: 1 },
    },
  },
  {
    type: "reply",
    id: 2,
    ok: {
      room: roomInfo,
      messages: [message, edit],
      hasMore: false,
      presence: [member],
      recovered: true,
      receipts: [{ user: member, seq: 3 }],
    },
  },
  { type: "reply", id: 3, error: { code: "not_joined", message: "Join first." } },
  { type: "reply", id: 4, error: { code: "rate_limited", message: "Slow.", retryAfterMs: 200 } },
  { type: "error", error: { code: "bad_json", message: "Bad." } },
  { type: "message", message },
  { type: "presence", room: "general", joins: [member], leaves: [] },
  { type: "typing", room: "general", user: member, active: false },
  { type: "room", room: roomInfo },
  { type: "receipt", room: "general", user: member, seq: 3 },
  { type: "read", room: "general", seq: 3 },
  {
    type: "reply",
    id: 5,
    error: { code: "forbidden", message: "Muted.", retryAfterMs: 100, permission: "send" },
  },
  {
    type: "moderation",
    event: {
      id: "ev1",
      room: "general",
      action: "ban",
      actor: member,
      target: { id: "u_2", name: "Bob" },
      ts: 4,
      until: null,
      reason: "spam",
    },
  },
  { type: "room.removed", room: "general", reason: "kicked" },
  { type: "custom", name: "x.poll.tally", room: "general", data: { yes: 3, no: 1 } },
  { type: "reply", id: 6, ok: { text: "Kicked bob." } },
];

Deno.test("every client frame type round-trips through the decoder", () => {
  const types = new Set(ClientSchema.options.map((o) => o.shape.type.value));
  assert.deepEqual(new Set(CLIENT_SAMPLES.map((f) => f.type)), types);
  for (const frame of CLIENT_SAMPLES) {
    assert.deepEqual(decodeClientFrame(JSON.stringify(frame)), { ok: true, frame });
  }
});

Deno.test("every server frame type matches the schema, alone and coalesced", () => {
  for (const frame of SERVER_SAMPLES) {
    assert.deepEqual(ServerSchema.parse(JSON.parse(JSON.stringify(frame))), frame);
  }
  const parts = SERVER_SAMPLES.map((f) => JSON.stringify(f));
  assert.deepEqual(decodeServerData(encodeBatch(parts)), SERVER_SAMPLES);
  assert.deepEqual(decodeServerData(encodeBatch(parts.slice(0, 1))), SERVER_SAMPLES.slice(0, 1));
});

const REJECTIONS: [string, string, string | Record<string, unknown>][] = [
  ["malformed JSON", "bad_json", "{nope"],
  ["a JSON array", "invalid_frame", "[1,2]"],
  ["no type", "invalid_frame", { id: 1 }],
  ["unknown type", "unknown_type", { type: "teleport", id: 1 }],
  ["missing field", "invalid_frame", { type: "send", id: 1, room: "general", text: "hi" }],
  ["a reaction that is not an emoji", "invalid_frame", {
    type: "react",
    id: 1,
    room: "general",
    seq: 1,
    emoji: "<b>",
  }],
  ["search page over the cap", "invalid_frame", {
    type: "search",
    id: 1,
    limit: LIMITS.searchPageMax + 1,
  }],
  ["extra field", "invalid_frame", { type: "ping", id: 1, admin: true }],
  ["missing id", "invalid_frame", { type: "ping" }],
  ["empty text", "text_empty", {
    type: "send",
    id: 1,
    room: "general",
    text: "",
    nonce: "abcdefgh",
  }],
  ["blank text", "text_empty", {
    type: "send",
    id: 1,
    room: "general",
    text: " \n\t ",
    nonce: "abcdefgh",
  }],
  ["text too long", "text_too_long", {
    type: "send",
    id: 1,
    room: "general",
    text: "x".repeat(LIMITS.messageChars + 1),
    nonce: "abcdefgh",
  }],
  ["bad room name", "invalid_room_name", { type: "room.join", id: 1, room: "Bad Name!" }],
  ["room name too long", "invalid_room_name", { type: "room.create", id: 1, room: "a".repeat(33) }],
  ["edit with empty text", "text_empty", {
    type: "edit",
    id: 1,
    room: "general",
    seq: 1,
    text: "",
  }],
  ["negative seq", "invalid_frame", { type: "read", id: 1, room: "general", seq: -1 }],
  ["history limit over the page cap", "invalid_frame", {
    type: "history",
    id: 1,
    room: "general",
    limit: LIMITS.historyPageMax + 1,
  }],
  ["frame over the byte cap", "frame_too_large", "x".repeat(LIMITS.frameBytes + 1)],
];

for (const [what, code, input] of REJECTIONS) {
  Deno.test(`decoder rejects ${what} with ${code}`, () => {
    const raw = typeof input === "string" ? input : JSON.stringify(input);
    const decoded = decodeClientFrame(raw);
    assert.equal(decoded.ok, false);
    if (!decoded.ok) {
      assert.equal(decoded.code, code);
      assert.ok(decoded.message.length > 0);
      if (typeof input === "object" && typeof input.id === "number") {
        assert.equal(decoded.id, input.id);
      }
    }
  });
}

Deno.test("an id outside the request id range is not echoed, so every reply is a valid frame", () => {
  for (const id of [2 ** 31, Number.MAX_SAFE_INTEGER]) {
    const decoded = decodeClientFrame(JSON.stringify({ type: "ping", id }));
    assert.deepEqual(decoded.ok ? null : [decoded.code, decoded.id], ["invalid_frame", null]);
  }
  const decoded = decodeClientFrame(JSON.stringify({ type: "ping", id: 2 ** 31 - 1, x: 1 }));
  assert.equal(decoded.ok ? null : decoded.id, 2 ** 31 - 1);
});

Deno.test("the byte cap counts UTF-8 bytes, not characters", () => {
  const emoji = "😀".repeat(LIMITS.frameBytes / 4); // exactly the cap in bytes, half in code units
  assert.equal(utf8Bytes(emoji), LIMITS.frameBytes);
  assert.equal(decodeClientFrame(emoji + "x").ok, false);
  assert.equal((decodeClientFrame(emoji + "x") as { code: string }).code, "frame_too_large");
  assert.equal(utf8Bytes("é€"), 5);
});

Deno.test("close codes say whether to reconnect", () => {
  assert.equal(shouldReconnect(CLOSE_CODES.unauthorized), false);
  assert.equal(shouldReconnect(CLOSE_CODES.unsupportedVersion), false);
  assert.equal(shouldReconnect(CLOSE_CODES.policyViolation), false);
  assert.equal(shouldReconnect(CLOSE_CODES.frameTooLarge), false);
  assert.equal(shouldReconnect(CLOSE_CODES.normal), false);
  assert.equal(shouldReconnect(CLOSE_CODES.slowConsumer), true);
  assert.equal(shouldReconnect(CLOSE_CODES.serviceRestart), true);
  assert.equal(shouldReconnect(CLOSE_CODES.goingAway), true);
  assert.equal(shouldReconnect(1006), true);
});

Deno.test("the JSON Schema document describes both directions and every error code", () => {
  const doc = protocolJsonSchema();
  const client = doc.client as { oneOf: { properties: { type: { const: string } } }[] };
  const types = [...new Set(CLIENT_SAMPLES.map((f) => f.type))].sort();
  assert.deepEqual(client.oneOf.map((s) => s.properties.type.const).sort(), types);
  const text = JSON.stringify(doc.server);
  for (const code of ERROR_CODE_LIST) assert.ok(text.includes(`"${code}"`), code);
  assert.deepEqual(Object.keys(doc.results as object).sort(), types);
});

Deno.test("the hand check of send frames accepts exactly what the schema accepts", () => {
  const valid = { type: "send", id: 7, room: "general", text: "hello", nonce: "nonce-001" };
  const variants: Record<string, unknown>[] = [valid, { ...valid, extra: 1 }];
  const values: Record<string, unknown[]> = {
    id: [-1, 0, 2 ** 31 - 1, 2 ** 31, 1.5, "1", null, -0, 1e21],
    room: ["", "a", "A", "room name", "r".repeat(32), "r".repeat(33), "-r", "r_1-2", 5, null],
    text: [
      "",
      " ",
      "\n\t ",
      "a",
      " a ",
      "x".repeat(LIMITS.messageChars),
      "x".repeat(LIMITS.messageChars + 1),
      "ж".repeat(LIMITS.messageChars),
      "\u00a0",
      "\u200b",
      7,
    ],
    nonce: ["n".repeat(7), "n".repeat(8), "n".repeat(64), "n".repeat(65), 12345678, null],
  };
  for (const [field, options] of Object.entries(values)) {
    for (const option of options) variants.push({ ...valid, [field]: option });
    const { [field]: _, ...missing } = valid as Record<string, unknown>;
    variants.push(missing);
  }
  for (const frame of variants) {
    const decoded = decodeClientFrame(JSON.stringify(frame));
    const schema = ClientSchema.safeParse(JSON.parse(JSON.stringify(frame)));
    assert.equal(decoded.ok, schema.success, JSON.stringify(frame).slice(0, 120));
    if (decoded.ok && schema.success) assert.deepEqual(decoded.frame, schema.data);
  }
});
