import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Member, Message } from "../../protocol/messages.ts";
import { applyEntries, SeqTracker } from "./stream.ts";

const ada: Member = { id: "u1", name: "Ada" };

function text(seq: number, extra: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    room: "r",
    seq,
    kind: "text",
    author: ada,
    text: `t${seq}`,
    ts: seq,
    ...extra,
  };
}
function edit(seq: number, target: number, newText: string, ts = seq): Message {
  return { id: `m${seq}`, room: "r", seq, kind: "edit", author: ada, text: newText, ts, target };
}
function del(seq: number, target: number): Message {
  return { id: `m${seq}`, room: "r", seq, kind: "delete", author: ada, text: "", ts: seq, target };
}

Deno.test("applyEntries keeps text messages sorted with each seq once", () => {
  const merged = applyEntries([text(2), text(5)], [text(5), text(1), text(3)]);
  deepStrictEqual(merged.map((m) => m.seq), [1, 2, 3, 5]);
});

Deno.test("applyEntries applies edits and deletions to held targets, idempotently", () => {
  const held = [text(1), text(2)];
  const once = applyEntries(held, [edit(3, 1, "new"), del(4, 2), edit(5, 9, "not loaded")]);
  deepStrictEqual(once.map((m) => [m.seq, m.text, m.editedAt, m.deleted]), [
    [1, "new", 3, undefined],
    [2, "", undefined, true],
  ]);
  // Replayed (e.g. a recovery overlapping pushes): nothing changes, not even the array.
  strictEqual(applyEntries(once, [edit(3, 1, "new"), del(4, 2), text(1), text(2)]), once);
});

Deno.test("a late edit never overwrites a newer one, and a deletion is final", () => {
  const held = applyEntries([text(1)], [edit(5, 1, "second")]);
  strictEqual(applyEntries(held, [edit(4, 1, "first")]), held);
  const deleted = applyEntries(held, [del(6, 1)]);
  strictEqual(applyEntries(deleted, [edit(7, 1, "too late")]), deleted);
  // History shows the current state: a newer copy replaces the held one, an older does not.
  const current = text(1, { text: "third", editedAt: 8 });
  deepStrictEqual(applyEntries(held, [current]), [current]);
  strictEqual(applyEntries([current], [text(1)]).at(0), current);
  deepStrictEqual(applyEntries(held, [text(1, { text: "", deleted: true })])[0]?.deleted, true);
});

Deno.test("SeqTracker follows the contiguous seq through reordering and covered pages", () => {
  const stream = new SeqTracker(10);
  strictEqual(stream.see(11), true);
  strictEqual(stream.see(11), false);
  strictEqual(stream.see(13), true);
  deepStrictEqual([stream.contiguous, stream.hasGap, stream.latest], [11, true, 13]);
  stream.see(12);
  deepStrictEqual([stream.contiguous, stream.hasGap], [13, false]);
  stream.see(20);
  stream.see(16);
  stream.coverTo(15); // a gap-fill page up to 15
  deepStrictEqual([stream.contiguous, stream.hasGap], [16, true]);
  stream.coverTo(stream.latest);
  deepStrictEqual([stream.contiguous, stream.hasGap], [20, false]);
  strictEqual(stream.see(3), false);
});
