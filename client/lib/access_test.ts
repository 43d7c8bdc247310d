import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Member, RoomInfo } from "../../protocol/messages.ts";
import {
  can,
  grantableRoles,
  mayModerate,
  postBlock,
  roomLabel,
  standingIn,
  type Viewer,
} from "./access.ts";

const ada: Member = { id: "u1", name: "Ada" };
const bob: Member = { id: "u2", name: "Bob" };

function room(patch: Partial<RoomInfo> = {}): RoomInfo {
  return {
    name: "r",
    kind: "public",
    title: "",
    topic: "",
    createdAt: 0,
    createdBy: "u1",
    lastSeq: 0,
    online: 0,
    receipts: false,
    ...patch,
  };
}

Deno.test("a plain member sees no moderation; a moderator acts only on those below", () => {
  const member = standingIn(room({ role: "member" }), { user: bob, role: "user" });
  strictEqual(can("kick", member), false);
  strictEqual(can("invite", member), false);
  strictEqual(mayModerate("kick", member, "member"), false);
  deepStrictEqual(grantableRoles(member, "member"), []);

  const mod = standingIn(room({ role: "moderator" }), { user: ada, role: "user" });
  strictEqual(mayModerate("ban", mod, "member"), true);
  strictEqual(mayModerate("ban", mod, "moderator"), false);
  deepStrictEqual(grantableRoles(mod, "member"), ["moderator"]);
  deepStrictEqual(grantableRoles(mod, "owner"), []);

  // A server admin acts as owner anywhere but in direct messages.
  const admin = standingIn(room({ role: "member" }), { user: ada, role: "admin" });
  deepStrictEqual(grantableRoles(admin, "moderator"), ["owner", "member"]);
  const dm = standingIn(room({ kind: "dm", peers: [ada, bob] }), { user: ada, role: "admin" });
  strictEqual(can("kick", dm), false);
  strictEqual(can("send", dm), true);
});

Deno.test("postBlock says why the composer is off", () => {
  const now = Date.UTC(2030, 0, 1, 12);
  const viewer: Viewer = { user: bob, role: "user" };
  const say = (info: RoomInfo, who = viewer) => postBlock(info, standingIn(info, who), now);
  strictEqual(say(room({ role: "member" })), null);
  strictEqual(
    say(room({ kind: "announcement", role: "member" })),
    "Only moderators post in announcement rooms.",
  );
  strictEqual(say(room({ kind: "announcement", role: "moderator" })), null);
  strictEqual(
    say(room({ kind: "private", role: "member" }), { user: bob, role: "guest" }),
    "Guests can only post in public rooms.",
  );
  strictEqual(say(room({ role: "member", mutedUntil: now - 1 })), null, "the mute is over");
  strictEqual(
    say(room({ role: "member", mutedUntil: now + 60_000 }))?.startsWith("You are muted until"),
    true,
  );
  strictEqual(say(room({ disabled: true, role: "member" })), "This room was disabled by an admin.");
  strictEqual(say(room({ kind: "dm", peers: [ada, bob] })), null);
  strictEqual(say(room({ kind: "dm", peers: [ada] })), "You may not post in this room.");
  strictEqual(postBlock(room(), null, now), "Connecting…");
});

Deno.test("roomLabel shows the other person of a dm, else the title or the name", () => {
  strictEqual(roomLabel(room({ kind: "dm", name: "dm-1", peers: [ada, bob] }), ada), "Bob");
  strictEqual(roomLabel(room({ kind: "dm", name: "dm-1", peers: [ada, bob] }), bob), "Ada");
  strictEqual(roomLabel(room({ title: "The Lounge" }), ada), "The Lounge");
  strictEqual(roomLabel(room(), ada), "r");
});
