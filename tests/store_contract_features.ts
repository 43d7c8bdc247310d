/**
 * The Store contract's cases for reactions, replies, mentions, files, unread mentions and
 * search; registered by storeContract (tests/store_contract.ts) for every adapter.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type { Member, Message } from "../protocol/messages.ts";
import type { EntryDraft, SearchQuery, Store, TextExtras } from "../server/store/types.ts";
import type { WithStore } from "./store_contract.ts";

const ada = { id: "u_ada", name: "Ada" };
const bob = { id: "u_bob", name: "Bob" };
const carol = { id: "u_carol", name: "Carol" };

let nonces = 0;
function say(room: string, author: Member, body: string, extras: TextExtras = {}): EntryDraft {
  return { kind: "text", room, author, text: body, nonce: `n-${++nonces}`, ...extras };
}

function react(room: string, author: Member, target: number, emoji: string, remove = false) {
  const draft: EntryDraft = { kind: "react", room, author, target, emoji };
  if (remove) draft.remove = true;
  return draft;
}

/** The n-th of many distinct emoji (😀, 😁, ...). */
const emoji = (n: number) => String.fromCodePoint(0x1f600 + n);

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e) => e instanceof ProtocolError && e.code === code);
}

async function entry(store: Store, room: string, seq: number): Promise<Message | undefined> {
  const page = await store.history(room, { after: seq - 1, limit: 1 });
  return page.messages.find((m) => m.seq === seq);
}

const texts = (messages: Message[]) => messages.map((m) => `${m.room}:${m.text}`);

function query(rooms: string[], terms: string[], rest: Partial<SearchQuery> = {}): SearchQuery {
  return { rooms, terms, limit: 50, ...rest };
}

export function featureContract(withStore: WithStore): void {
  withStore(
    "reactions: add, repeat, take back, limits, and none on a deleted message",
    async (store) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      await store.append(say("r", ada, "react to me"));
      const added = await store.append(react("r", bob, 1, "👍"));
      assert.equal(added.message.kind, "react");
      assert.equal(added.message.target, 1);
      assert.equal(added.message.emoji, "👍");
      assert.equal(added.message.seq, 2);
      assert.deepEqual((await entry(store, "r", 1))?.reactions, [{ emoji: "👍", users: [bob] }]);
      // A repeat is an entry, but changes nothing.
      await store.append(react("r", bob, 1, "👍"));
      await store.append(react("r", ada, 1, "👍"));
      await store.append(react("r", bob, 1, "❤️"));
      assert.deepEqual((await entry(store, "r", 1))?.reactions, [
        { emoji: "👍", users: [bob, ada] },
        { emoji: "❤️", users: [bob] },
      ]);
      const removed = await store.append(react("r", bob, 1, "👍", true));
      assert.equal(removed.message.remove, true);
      await store.append(react("r", ada, 1, "👍", true));
      assert.deepEqual((await entry(store, "r", 1))?.reactions, [{ emoji: "❤️", users: [bob] }]);
      // Taken back and added again: it goes last.
      await store.append(react("r", ada, 1, "👍"));
      assert.deepEqual((await entry(store, "r", 1))?.reactions?.map((r) => r.emoji), ["❤️", "👍"]);

      await store.append(say("r", ada, "full"));
      const full = (await store.getRoom("r"))!.lastSeq;
      for (let i = 0; i < LIMITS.reactionsPerMessage; i++) {
        await store.append(react("r", bob, full, emoji(i)));
      }
      await rejectsWith(store.append(react("r", bob, full, emoji(99))), "too_many_reactions");
      // An emoji already there still takes more people.
      await store.append(react("r", ada, full, emoji(0)));

      await store.append(say("r", ada, "bye"));
      const bye = (await store.getRoom("r"))!.lastSeq;
      await store.append(react("r", bob, bye, "🎉"));
      await store.append({ kind: "delete", room: "r", author: ada, target: bye });
      const tombstone = await entry(store, "r", bye);
      assert.equal(tombstone?.deleted, true);
      assert.equal(tombstone?.reactions, undefined);
      await rejectsWith(store.append(react("r", bob, bye, "🎉")), "message_not_found");
      await rejectsWith(store.append(react("r", bob, 999, "🎉")), "message_not_found");
      await rejectsWith(store.append(react("r", bob, 2, "🎉")), "message_not_found"); // a react
      // The first message kept its reactions through all of that.
      assert.deepEqual((await entry(store, "r", 1))?.reactions?.map((r) => r.emoji), ["❤️", "👍"]);
    },
  );

  withStore("a message holds 20 emoji from 100 people each, long ids and all", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    await store.append(say("r", ada, "popular"));
    const people = Array.from({ length: LIMITS.reactorsPerEmoji + 1 }, (_, i) => ({
      id: `u_${String(i).padStart(3, "0")}_${"x".repeat(120)}`,
      name: `Person ${i} ${"é".repeat(20)}`,
    }));
    const last = people.pop()!;
    for (let e = 0; e < LIMITS.reactionsPerMessage; e++) {
      // Concurrently: a batch carries many reactions to one message.
      await Promise.all(people.map((p) => store.append(react("r", p, 1, emoji(e)))));
    }
    await rejectsWith(store.append(react("r", last, 1, emoji(0))), "too_many_reactions");
    const message = await entry(store, "r", 1);
    assert.equal(message?.reactions?.length, LIMITS.reactionsPerMessage);
    for (const [e, r] of (message?.reactions ?? []).entries()) {
      assert.equal(r.emoji, emoji(e));
      assert.deepEqual(
        r.users.map((u) => u.id).sort(),
        people.map((p) => p.id).sort(),
      );
    }
    await store.append(say("r", bob, "after"));
    assert.equal((await store.history("r", { limit: 5 })).messages.at(-1)?.text, "after");
    await store.append({ kind: "delete", room: "r", author: ada, target: 1 });
    assert.equal((await entry(store, "r", 1))?.reactions, undefined);
  });

  withStore(
    "a burst of long texts and their edits, all in one tick, is indexed whole",
    async (store) => {
      await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
      // 200 distinct words each (the most indexed), written and rewritten together.
      const words = (tag: string, n: number) =>
        Array.from({ length: 200 }, (_, i) => `${tag}${n}w${i}`).join(" ");
      const mentions = Array.from({ length: LIMITS.mentionsPerMessage }, (_, i) => `name${i}`);
      const drafts: EntryDraft[] = [];
      for (let n = 0; n < 40; n++) drafts.push(say("r", ada, words("old", n), { mentions }));
      for (let n = 0; n < 40; n++) {
        drafts.push({ kind: "edit", room: "r", author: ada, target: n + 1, text: words("new", n) });
      }
      const results = await Promise.all(drafts.map((d) => store.append(d)));
      assert.deepEqual(results.map((r) => r.message.seq), drafts.map((_, i) => i + 1));
      for (const n of [0, 17, 39]) {
        assert.deepEqual((await store.search(query(["r"], [`old${n}w5`]))).messages, []);
        const found = await store.search(query(["r"], [`new${n}w199`, `new${n}w0`]));
        assert.deepEqual(found.messages.map((m) => m.seq), [n + 1]);
      }
      assert.equal(await store.unreadMentions("r", bob.id, ["name7"], 100), 40);
    },
  );

  withStore("replies, mentions and files read back as sent", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    await store.append(say("r", ada, "question"));
    const extras: TextExtras = {
      replyTo: { seq: 1, author: ada, text: "question" },
      mentions: ["ada", "room"],
      file: { id: "f1", name: "plan.png", type: "image/png", size: 1234, width: 10, height: 20 },
    };
    const sent = await store.append(say("r", bob, "answer @ada @room", extras));
    assert.deepEqual(sent.message.replyTo, extras.replyTo);
    assert.deepEqual(sent.message.mentions, extras.mentions);
    assert.deepEqual(sent.message.file, extras.file);
    const read = await entry(store, "r", 2);
    assert.deepEqual(read, sent.message);
    await store.append({ kind: "edit", room: "r", author: bob, target: 2, text: "edited" });
    const edited = await entry(store, "r", 2);
    assert.deepEqual(edited?.replyTo, extras.replyTo);
    assert.deepEqual(edited?.file, extras.file);
    await store.append({ kind: "delete", room: "r", author: bob, target: 2 });
    const gone = await entry(store, "r", 2);
    assert.equal(gone?.mentions, undefined);
    assert.equal(gone?.file, undefined);
  });

  withStore("unread mentions: after the marker, by others, up to the cap", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    const names = ["bob", "room"];
    assert.equal(await store.unreadMentions("r", bob.id, names, 10), 0);
    await store.append(say("r", ada, "hi @bob", { mentions: ["bob"] })); // 1
    await store.append(say("r", ada, "nothing")); // 2
    await store.append(say("r", ada, "hi @room", { mentions: ["room"] })); // 3
    await store.append(say("r", bob, "me @bob", { mentions: ["bob"] })); // 4: his own
    await store.append(say("r", ada, "hi @carol", { mentions: ["carol"] })); // 5
    await store.append(say("r", carol, "both @bob @room", { mentions: ["bob", "room"] })); // 6
    assert.equal(await store.unreadMentions("r", bob.id, names, 10), 3);
    assert.equal(await store.unreadMentions("r", bob.id, names, 2), 2);
    assert.equal(await store.unreadMentions("r", carol.id, ["carol"], 10), 1);
    await store.setReadMarker("r", bob.id, 1);
    assert.equal(await store.unreadMentions("r", bob.id, names, 10), 2);
    await store.append({ kind: "delete", room: "r", author: ada, target: 3 });
    assert.equal(await store.unreadMentions("r", bob.id, names, 10), 1);
    await store.setReadMarker("r", bob.id, 6);
    assert.equal(await store.unreadMentions("r", bob.id, names, 10), 0);
    assert.equal(await store.unreadMentions("nowhere", bob.id, names, 10), 0);
  });

  let clock = 1000;
  withStore("search: every term, any case, by author, dates, rooms, replies", async (store) => {
    for (const room of ["a", "b", "c"]) {
      await store.createRoom({ name: room, topic: "", createdBy: ada.id });
    }
    clock = 1000;
    await store.append(say("a", ada, "Hello World")); // a:1
    clock = 2000;
    await store.append(say("a", bob, "hello there")); // a:2
    await store.append(say("b", bob, "HELLO, world... again!")); // b:1
    clock = 3000;
    await store.append(say("a", ada, "world peace")); // a:3
    await store.append(say("c", ada, "hello world in c")); // c:1
    clock = 4000;
    await store.append(
      say("a", carol, "re: hello", { replyTo: { seq: 1, author: ada, text: "" } }),
    );
    await store.append(
      say("a", bob, "another reply", { replyTo: { seq: 1, author: ada, text: "" } }),
    );
    await store.append(say("a", bob, "not a reply"));

    const both = await store.search(query(["a", "b"], ["hello", "world"]));
    assert.deepEqual(texts(both.messages), ["b:HELLO, world... again!", "a:Hello World"]);
    assert.equal(both.hasMore, false);
    assert.deepEqual(
      texts((await store.search(query(["a", "b", "c"], ["world"]))).messages),
      ["a:world peace", "c:hello world in c", "b:HELLO, world... again!", "a:Hello World"],
    );
    // Whole words only.
    assert.deepEqual((await store.search(query(["a"], ["hell"]))).messages, []);
    assert.deepEqual(
      texts((await store.search(query(["a", "b"], ["hello"], { author: bob.id }))).messages),
      ["a:hello there", "b:HELLO, world... again!"],
    );
    assert.deepEqual(
      texts(
        (await store.search(query(["a", "b", "c"], ["world"], { from: 2000, to: 3000 })))
          .messages,
      ),
      ["b:HELLO, world... again!"],
    );
    assert.deepEqual(
      texts((await store.search(query(["a"], [], { author: ada.id }))).messages),
      ["a:world peace", "a:Hello World"],
    );
    assert.deepEqual(
      texts((await store.search(query(["a", "b"], [], { from: 2000, to: 3000 }))).messages),
      ["a:hello there", "b:HELLO, world... again!"],
    );
    // Only rooms asked for; an unknown one is no error.
    assert.deepEqual(
      texts((await store.search(query(["c", "zz"], ["hello"]))).messages),
      ["c:hello world in c"],
    );
    assert.deepEqual((await store.search(query([], ["hello"]))).messages, []);
    const replies = await store.search(query(["a"], [], { replyTo: 1 }));
    assert.deepEqual(texts(replies.messages), ["a:another reply", "a:re: hello"]);
    assert.deepEqual(
      texts((await store.search(query(["a"], ["hello"], { replyTo: 1 }))).messages),
      ["a:re: hello"],
    );
    // Results are messages as they are now: reactions included.
    await store.append(react("c", bob, 1, "👍"));
    const withReaction = await store.search(query(["c"], ["hello"]));
    assert.deepEqual(withReaction.messages[0]?.reactions, [{ emoji: "👍", users: [bob] }]);
    assert.equal(withReaction.messages[0]?.seq, 1);
  }, { now: () => clock });

  let still = 5000;
  withStore("search pages with a cursor across rooms sharing one ts", async (store) => {
    for (const room of ["p", "q", "s"]) {
      await store.createRoom({ name: room, topic: "", createdBy: ada.id });
    }
    still = 5000;
    for (const room of ["q", "s", "p"]) {
      for (let i = 1; i <= 3; i++) await store.append(say(room, ada, `page ${room}${i}`));
    }
    still = 6000;
    await store.append(say("s", ada, "page newest"));
    const all: string[] = [];
    let before: SearchQuery["before"];
    for (let round = 0; round < 10; round++) {
      const page = await store.search(query(["p", "q", "s"], ["page"], { limit: 4, before }));
      all.push(...texts(page.messages));
      if (!page.hasMore) break;
      const last = page.messages.at(-1)!;
      before = { ts: last.ts, room: last.room, seq: last.seq };
    }
    assert.deepEqual(all, [
      "s:page newest",
      "p:page p3",
      "p:page p2",
      "p:page p1",
      "q:page q3",
      "q:page q2",
      "q:page q1",
      "s:page s3",
      "s:page s2",
      "s:page s1",
    ]);
    const exact = await store.search(query(["p", "q", "s"], ["page"], { limit: 10 }));
    assert.equal(exact.hasMore, false);
    const short = await store.search(query(["p", "q", "s"], ["page"], { limit: 9 }));
    assert.equal(short.hasMore, true);
  }, { now: () => still });

  withStore("search follows edits, deletes, retention and a room made anew", async (store) => {
    await store.createRoom({ name: "r", topic: "", createdBy: ada.id });
    await store.append(say("r", ada, "the old word")); // 1
    await store.append(say("r", ada, "doomed message")); // 2
    await store.append({ kind: "edit", room: "r", author: ada, target: 1, text: "the new word" });
    assert.deepEqual((await store.search(query(["r"], ["old"]))).messages, []);
    const renewed = await store.search(query(["r"], ["new", "word"]));
    assert.deepEqual(texts(renewed.messages), ["r:the new word"]);
    assert.equal(renewed.messages[0]?.editedAt !== undefined, true);
    await store.append({ kind: "delete", room: "r", author: ada, target: 2 });
    assert.deepEqual((await store.search(query(["r"], ["doomed"]))).messages, []);
    assert.deepEqual((await store.search(query(["r"], [], { author: ada.id }))).messages.length, 1);

    for (let i = 0; i < 30; i++) await store.append(say("r", bob, `numbered ${i} common`));
    await store.prune("r", { maxCount: 10 }, Date.now());
    const kept = await store.search(query(["r"], ["common"]));
    assert.equal(kept.messages.length, 10);
    assert.deepEqual((await store.search(query(["r"], ["numbered", "0"]))).messages, []);
    assert.deepEqual((await store.search(query(["r"], ["new"]))).messages, []);
    assert.deepEqual((await store.search(query(["r"], [], { author: ada.id }))).messages, []);

    await store.createRoom({ name: "gone", topic: "", createdBy: ada.id });
    await store.append(say("gone", ada, "stale words", { mentions: ["bob"] }));
    await store.append(say("gone", ada, "more stale words"));
    await store.append(react("gone", bob, 1, "👍"));
    assert.equal(await store.deleteRoom("gone"), true);
    assert.deepEqual((await store.search(query(["gone"], ["stale"]))).messages, []);
    await store.createRoom({ name: "gone", topic: "", createdBy: bob.id });
    await store.append(say("gone", bob, "fresh words"));
    assert.deepEqual((await store.search(query(["gone"], ["stale"]))).messages, []);
    assert.deepEqual((await store.search(query(["gone"], [], { author: ada.id }))).messages, []);
    assert.deepEqual(
      texts((await store.search(query(["gone"], ["words"]))).messages),
      ["gone:fresh words"],
    );
    assert.equal((await entry(store, "gone", 1))?.reactions, undefined);
    assert.equal(await store.unreadMentions("gone", bob.id, ["bob"], 10), 0);
  });
}
