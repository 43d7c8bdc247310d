import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Member, Message, RoomInfo } from "../../protocol/messages.ts";
import {
  addPending,
  commitEntries,
  identity,
  patchRoom,
  removeRoom,
  rooms,
  roomView,
  unreadAfter,
  upsertRoom,
} from "./state.ts";

const alice: Member = { id: "u1", name: "Alice" };
const bob: Member = { id: "u2", name: "Bob" };

function msg(room: string, seq: number, nonce?: string, author = alice): Message {
  return { id: `m${seq}`, room, seq, kind: "text", author, text: `t${seq}`, ts: seq, nonce };
}

Deno.test("a committed message replaces its pending copy, whichever arrives first", () => {
  const view = roomView("nonce-room");
  addPending("nonce-room", { nonce: "n-123456", text: "t1", ts: 0, error: null });
  commitEntries("nonce-room", [msg("nonce-room", 1, "n-123456")]); // the send reply
  commitEntries("nonce-room", [msg("nonce-room", 1, "n-123456")]); // the push, later
  strictEqual(view.pending.value.length, 0);
  deepStrictEqual(view.messages.value.map((m) => m.seq), [1]);
});

Deno.test("unreadAfter counts held messages from others, when they cover the range", () => {
  identity.value = alice;
  const view = roomView("count-room");
  view.oldest = 5;
  commitEntries("count-room", [msg("count-room", 5, undefined, bob), msg("count-room", 6)]);
  commitEntries("count-room", [msg("count-room", 7, undefined, bob)]);
  strictEqual(unreadAfter("count-room", 4), 2);
  strictEqual(unreadAfter("count-room", 6), 1);
  strictEqual(unreadAfter("count-room", 7), 0);
  strictEqual(unreadAfter("count-room", 2), null, "entries 3 and 4 are not loaded");
  identity.value = null;
});

Deno.test("a room push keeps the caller's own fields; a patch can drop one", () => {
  const base: RoomInfo = {
    name: "merge-room",
    kind: "private",
    title: "",
    topic: "",
    createdAt: 0,
    createdBy: "u1",
    lastSeq: 3,
    online: 1,
    receipts: false,
  };
  upsertRoom({ ...base, role: "moderator", member: true, mutedUntil: 99 });
  upsertRoom({ ...base, topic: "new", lastSeq: 4 }, { merge: true });
  const held = rooms.value?.find((r) => r.name === "merge-room");
  strictEqual(held?.topic, "new");
  strictEqual(held?.role, "moderator");
  strictEqual(held?.mutedUntil, 99);
  patchRoom("merge-room", { mutedUntil: undefined });
  strictEqual("mutedUntil" in (rooms.value?.find((r) => r.name === "merge-room") ?? {}), false);
  removeRoom("merge-room");
  strictEqual(rooms.value?.some((r) => r.name === "merge-room"), false);
});
