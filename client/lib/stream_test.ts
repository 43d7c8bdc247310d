import { deepStrictEqual, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import type { Member, Message } from "../../protocol/messages.ts";
import { applyToTarget } from "../../server/store/entries.ts";
import { applyEntries, SeqTracker } from "./stream.ts";

const ada: Member = { id: "u1", name: "Ada" };
const bob: Member = { id: "u2", name: "Bob" };

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

function react(seq: number, target: number, emoji: string, by = ada, remove = false): Message {
  const entry: Message = {
    id: `m${seq}`,
    room: "r",
    seq,
    kind: "react",
    author: by,
    text: "",
    ts: seq,
    target,
    emoji,
  };
  if (remove) entry.remove = true;
  return entry;
}

Deno.test("reactions add and remove per user, and a repeat changes nothing", () => {
  let held = applyEntries([text(1)], [react(2, 1, "👍"), react(3, 1, "👍", bob)]);
  deepStrictEqual(held[0]?.reactions, [{ emoji: "👍", users: [ada, bob] }]);
  strictEqual(applyEntries(held, [react(2, 1, "👍"), react(4, 1, "👍")]), held);
  held = applyEntries(held, [react(5, 1, "🎉", bob), react(6, 1, "👍", ada, true)]);
  deepStrictEqual(held[0]?.reactions, [
    { emoji: "👍", users: [bob] },
    { emoji: "🎉", users: [bob] },
  ]);
  // Taking back what was never given, or the last one of an emoji.
  strictEqual(applyEntries(held, [react(7, 1, "🚀", ada, true)]), held);
  held = applyEntries(held, [react(8, 1, "👍", bob, true), react(9, 1, "🎉", bob, true)]);
  deepStrictEqual(held, [text(1)]);
  // A reaction to a message not held is dropped: its history copy will carry it.
  strictEqual(applyEntries(held, [react(10, 7, "👍")]), held);
});

Deno.test("a history page's reactions are already in its text copies", () => {
  // 👍 was added (2) then taken back (3): the page's copy of 1 shows no reaction.
  const page = [text(1), react(2, 1, "👍"), react(3, 1, "👍", ada, true), react(4, 1, "🎉")];
  const copy = text(1, { reactions: [{ emoji: "🎉", users: [ada] }] });
  page[0] = copy;
  deepStrictEqual(applyEntries([], page), [copy]);
  // Only 2 and 3 in this page, the copy read after both: still none.
  deepStrictEqual(applyEntries([], [text(1), react(2, 1, "👍")]), [text(1)]);
  // A reaction to a message held from before applies as usual.
  deepStrictEqual(applyEntries([text(1)], [react(2, 1, "👍"), text(3)])[0]?.reactions, [
    { emoji: "👍", users: [ada] },
  ]);
});

Deno.test("a deletion drops reactions, mentions and the file, as history shows it", () => {
  const rich = text(1, {
    reactions: [{ emoji: "👍", users: [bob] }],
    mentions: ["bob"],
    file: { id: "f1", name: "a.png", type: "image/png", size: 3 },
    editedAt: 4,
    replyTo: { seq: 0, author: bob, text: "q" },
  });
  const [gone] = applyEntries([rich], [del(5, 1)]);
  deepStrictEqual(gone, {
    ...text(1, { replyTo: { seq: 0, author: bob, text: "q" } }),
    text: "",
    deleted: true,
  });
  const [still] = applyEntries([gone!], [react(6, 1, "👍")]);
  strictEqual(still, gone);
});

Deno.test("reactions: the client folds any sequence exactly as the store does", () => {
  const people = [ada, bob, { id: "u3", name: "Cy" }];
  const step = fc.record({
    who: fc.integer({ min: 0, max: 2 }),
    emoji: fc.constantFrom("👍", "🎉", "❤️"),
    remove: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
      let server = text(1);
      let client: Message[] = [text(1)];
      steps.forEach((s, i) => {
        const entry = react(i + 2, 1, s.emoji, people[s.who], s.remove);
        server = applyToTarget(
          {
            kind: "react",
            room: "r",
            author: entry.author,
            target: 1,
            emoji: s.emoji,
            remove: s.remove,
          },
          server,
          entry.ts,
          undefined,
        );
        client = applyEntries(client, [entry]);
        // Replays (a reconnect overlapping pushes) change nothing.
        client = applyEntries(client, [entry]);
      });
      deepStrictEqual(client, [server]);
    }),
  );
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
