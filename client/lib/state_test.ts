import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Member, Message } from "../../protocol/messages.ts";
import {
  addPending,
  commitMessages,
  currentRoom,
  mergeBySeq,
  receiveMessage,
  roomView,
  setTyping,
} from "./state.ts";

const alice: Member = { id: "u1", name: "Alice" };

function msg(room: string, seq: number, nonce?: string): Message {
  return { id: `m${seq}`, room, seq, author: alice, text: `t${seq}`, ts: seq, nonce };
}

Deno.test("mergeBySeq keeps messages sorted with each seq once", () => {
  const merged = mergeBySeq([msg("r", 2), msg("r", 5)], [msg("r", 5), msg("r", 1), msg("r", 3)]);
  deepStrictEqual(merged.map((m) => m.seq), [1, 2, 3, 5]);
});

Deno.test("a committed message replaces its pending copy, whichever arrives first", () => {
  const view = roomView("nonce-room");
  addPending("nonce-room", { nonce: "n-123456", text: "t1", ts: 0, error: null });
  commitMessages("nonce-room", [msg("nonce-room", 1, "n-123456")]); // the send reply
  receiveMessage(msg("nonce-room", 1, "n-123456")); // the push, later
  strictEqual(view.pending.value.length, 0);
  deepStrictEqual(view.messages.value.map((m) => m.seq), [1]);
});

Deno.test("messages in other rooms count as unread, the current room's do not", () => {
  currentRoom.value = "here";
  receiveMessage({ ...msg("here", 1), author: { id: "u2", name: "Bob" } });
  receiveMessage({ ...msg("there", 1), author: { id: "u2", name: "Bob" } });
  receiveMessage({ ...msg("there", 1), author: { id: "u2", name: "Bob" } }); // duplicate push
  strictEqual(roomView("here").unread.value, 0);
  strictEqual(roomView("there").unread.value, 1);
  currentRoom.value = null;
});

Deno.test("typing ends when the typist's message arrives", () => {
  const view = roomView("typing-room");
  setTyping("typing-room", alice, true);
  deepStrictEqual(view.typing.value, [alice]);
  receiveMessage(msg("typing-room", 1));
  deepStrictEqual(view.typing.value, []);
});
