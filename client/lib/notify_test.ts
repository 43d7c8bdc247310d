import { deepEqual, equal } from "node:assert/strict";
import type { Message, RoomInfo } from "../../protocol/messages.ts";
import { notificationText, worthNotifying } from "./notify.ts";

const me = { id: "u1", name: "Ada" };
const zed = { id: "u2", name: "Zed" };
const room = (kind: RoomInfo["kind"]): RoomInfo => ({
  name: "lounge",
  kind,
  online: 1,
  lastSeq: 1,
  ...(kind === "dm" ? { peers: [me, zed] } : {}),
} as RoomInfo);
const msg = (over: Partial<Message> = {}): Message => ({
  id: "m",
  room: "lounge",
  seq: 3,
  kind: "text",
  author: zed,
  text: "hello @ada",
  ts: 0,
  ...over,
});

Deno.test("worthNotifying: mentions and direct messages by others only", () => {
  equal(worthNotifying(msg({ mentions: ["ada"] }), room("public"), me), true);
  equal(worthNotifying(msg({ mentions: ["room"] }), room("public"), me), true);
  equal(worthNotifying(msg(), room("public"), me), false);
  equal(worthNotifying(msg(), room("dm"), me), true);
  equal(worthNotifying(msg({ author: me, mentions: ["ada"] }), room("public"), me), false);
  equal(worthNotifying(msg({ kind: "edit", mentions: ["ada"] }), room("public"), me), false);
  equal(worthNotifying(msg({ mentions: ["ada"] }), room("public"), null), false);
});

Deno.test("notificationText names the author, and the room unless it is a dm", () => {
  deepEqual(notificationText(msg(), room("public"), me), {
    title: "Zed in #lounge",
    body: "hello @ada",
  });
  equal(notificationText(msg(), room("dm"), me).title, "Zed");
  equal(notificationText(msg({ text: "x".repeat(300) }), room("dm"), me).body.length, 140);
});
