import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Member, Message } from "../../protocol/messages.ts";
import { addPending, commitEntries, identity, roomView, unreadAfter } from "./state.ts";

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
