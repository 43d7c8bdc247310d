import { strictEqual } from "node:assert/strict";
import type { Member, ModerationEvent } from "../../protocol/messages.ts";
import { durationText, moderationText } from "./moderation.ts";

const ada: Member = { id: "u1", name: "Ada" };
const bob: Member = { id: "u2", name: "Bob" };
const MIN = 60_000;

function event(patch: Partial<ModerationEvent>): ModerationEvent {
  return { id: "e1", room: "r", action: "kick", actor: ada, target: bob, ts: 1000, ...patch };
}

Deno.test("moderation events read as sentences", () => {
  strictEqual(moderationText(event({})), "Ada kicked Bob");
  strictEqual(moderationText(event({ reason: "spam" })), "Ada kicked Bob: spam");
  strictEqual(
    moderationText(event({ action: "mute", until: 1000 + 10 * MIN })),
    "Ada muted Bob for 10 min",
  );
  strictEqual(moderationText(event({ action: "ban", until: null })), "Ada banned Bob");
  strictEqual(
    moderationText(event({ action: "ban", until: 1000 + 7 * 24 * 60 * MIN })),
    "Ada banned Bob for 7 days",
  );
  strictEqual(
    moderationText(event({ action: "role", role: "moderator" })),
    "Ada made Bob a moderator",
  );
  strictEqual(moderationText(event({ action: "invite" }), bob), "Ada invited you");
  strictEqual(moderationText(event({ action: "unmute" }), ada), "You unmuted Bob");
  strictEqual(
    moderationText(event({ action: "update", target: undefined })),
    "Ada changed the room settings",
  );
});

Deno.test("durations round to the unit that reads best", () => {
  strictEqual(durationText(5 * MIN), "5 min");
  strictEqual(durationText(60 * MIN), "1 hour");
  strictEqual(durationText(120 * MIN), "2 hours");
  strictEqual(durationText(24 * 60 * MIN), "1 day");
});
