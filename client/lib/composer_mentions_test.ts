import { deepEqual, equal } from "node:assert/strict";
import type { Member, Message } from "../../protocol/messages.ts";
import {
  cachedMembers,
  clearMemberCache,
  matchMentions,
  mentionsUser,
  replaceToken,
  tokenAt,
} from "./composer_mentions.ts";

const m = (id: string, name: string): Member => ({ id, name });

Deno.test("tokenAt finds @ at once and : after two characters", () => {
  deepEqual(tokenAt("hi @", 4), { kind: "@", query: "", start: 3, end: 4 });
  deepEqual(tokenAt("@Ad", 3), { kind: "@", query: "Ad", start: 0, end: 3 });
  deepEqual(tokenAt("(@bo", 4), { kind: "@", query: "bo", start: 1, end: 4 });
  equal(tokenAt("mail a@b", 8), null);
  equal(tokenAt("hi :t", 5), null);
  deepEqual(tokenAt("hi :TA", 6), { kind: ":", query: "ta", start: 3, end: 6 });
  equal(tokenAt("time 10:30", 10), null);
  equal(tokenAt("plain words", 11), null);
  // Only up to the caret counts.
  deepEqual(tokenAt("@ada and more", 4), { kind: "@", query: "ada", start: 0, end: 4 });
});

Deno.test("replaceToken inserts with one space and puts the caret after it", () => {
  const token = tokenAt("hey @ad", 7)!;
  deepEqual(replaceToken("hey @ad", token, "@Ada"), { text: "hey @Ada ", caret: 9 });
  const mid = tokenAt("x :ta y", 5)!;
  deepEqual(replaceToken("x :ta y", mid, "🎉"), { text: "x 🎉 y", caret: 5 });
});

Deno.test("matchMentions: prefix first, then contains, no self, @room for moderators", () => {
  const members = [m("1", "Ada"), m("2", "bob"), m("3", "Adam"), m("4", "Nadia"), m("5", "me")];
  deepEqual(matchMentions(members, "ad", { self: "5" }).map((o) => o.name), [
    "Ada",
    "Adam",
    "Nadia",
  ]);
  deepEqual(matchMentions(members, "r", { room: true }).map((o) => o.name), ["room"]);
  deepEqual(matchMentions(members, "", { room: true, self: "5", limit: 3 }).map((o) => o.name), [
    "room",
    "Ada",
    "Adam",
  ]);
  deepEqual(matchMentions(members, "r").map((o) => o.name), []);
});

Deno.test("mentionsUser matches the lower-case name or @room", () => {
  const msg = (mentions?: string[]): Message => ({
    id: "x",
    room: "r",
    seq: 1,
    kind: "text",
    author: m("9", "Zed"),
    text: "hi",
    ts: 0,
    ...(mentions ? { mentions } : {}),
  });
  equal(mentionsUser(msg(["ada"]), "Ada"), true);
  equal(mentionsUser(msg(["room"]), "Bob"), true);
  equal(mentionsUser(msg(["bob"]), "Ada"), false);
  equal(mentionsUser(msg(), "Ada"), false);
});

Deno.test("cachedMembers asks once a minute and retries after a failure", async () => {
  clearMemberCache();
  let calls = 0;
  const fetch = () => {
    calls++;
    return calls === 1 ? Promise.reject(new Error("offline")) : Promise.resolve([m("1", "Ada")]);
  };
  await cachedMembers("r", fetch, 0).catch(() => {});
  deepEqual(await cachedMembers("r", fetch, 1), [m("1", "Ada")]);
  await cachedMembers("r", fetch, 2);
  equal(calls, 2);
  await cachedMembers("r", fetch, 70_000);
  equal(calls, 3);
});
