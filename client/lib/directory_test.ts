import { deepEqual } from "node:assert/strict";
import type { Member, RoomInfo } from "../../protocol/messages.ts";
import { clearMemberCache } from "./composer_mentions.ts";
import { knownPeople, matchPeople, mergeRooms } from "./directory.ts";

const m = (id: string, name: string): Member => ({ id, name });
const room = (name: string, over: Partial<RoomInfo> = {}): RoomInfo => ({
  name,
  kind: "public",
  title: "",
  topic: "",
  createdAt: 0,
  createdBy: "u",
  lastSeq: 0,
  online: 0,
  receipts: false,
  ...over,
});

Deno.test("mergeRooms adds each room once", () => {
  deepEqual(
    mergeRooms([room("a"), room("b")], [room("b"), room("c")]).map((r) => r.name),
    ["a", "b", "c"],
  );
});

Deno.test("knownPeople gathers members of member rooms and dm peers, without me", async () => {
  clearMemberCache();
  const asked: string[] = [];
  const people = await knownPeople(
    [
      room("a", { member: true }),
      room("b"),
      room("c", { member: true }),
      room("dm-x", { kind: "dm", member: true, peers: [m("me", "Me"), m("z", "Zed")] }),
    ],
    "me",
    (name) => {
      asked.push(name);
      if (name === "c") return Promise.reject(new Error("gone"));
      return Promise.resolve([m("me", "Me"), m("b", "bob"), m("a", "Ada")]);
    },
  );
  deepEqual(asked, ["a", "c"]);
  deepEqual(people.map((p) => p.name), ["Ada", "bob", "Zed"]);
});

Deno.test("matchPeople: prefix, then contains", () => {
  const people = [m("1", "Ada"), m("2", "Nadia"), m("3", "bob")];
  deepEqual(matchPeople(people, "ad").map((p) => p.name), ["Ada", "Nadia"]);
  deepEqual(matchPeople(people, "").map((p) => p.name), ["Ada", "Nadia", "bob"]);
});
