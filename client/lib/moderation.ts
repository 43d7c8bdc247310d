/** Moderation in words: system lines for the timeline and the log, and the durations offered. */
import type { Member, ModerationEvent } from "../../protocol/messages.ts";
import type { RoomRole } from "../../protocol/permissions.ts";

export interface Duration {
  label: string;
  /** Absent: for ever (bans only). */
  minutes?: number;
}

const HOUR = 60;
const DAY = 24 * HOUR;

export const MUTE_DURATIONS: readonly Duration[] = [
  { label: "5 min", minutes: 5 },
  { label: "10 min", minutes: 10 },
  { label: "1 hour", minutes: HOUR },
  { label: "1 day", minutes: DAY },
  { label: "1 week", minutes: 7 * DAY },
];

export const BAN_DURATIONS: readonly Duration[] = [
  { label: "1 hour", minutes: HOUR },
  { label: "1 day", minutes: DAY },
  { label: "1 week", minutes: 7 * DAY },
  { label: "30 days", minutes: 30 * DAY },
  { label: "forever" },
];

/** "10 min", "2 hours", "1 day": a span of time, rounded to the unit that reads best. */
export function durationText(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  if (minutes < HOUR) return `${minutes} min`;
  if (minutes < DAY) return plural(Math.round(minutes / HOUR), "hour");
  return plural(Math.round(minutes / DAY), "day");
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

const ROLE_WORDS: Record<RoomRole, string> = {
  owner: "an owner",
  moderator: "a moderator",
  member: "a member",
};

/** One line for a moderation event, e.g. "Ada muted Bob for 10 min". `me` reads as "you". */
export function moderationText(event: ModerationEvent, me?: Member | null): string {
  const name = (m: Member, start: boolean) => m.id === me?.id ? (start ? "You" : "you") : m.name;
  const actor = name(event.actor, true);
  const target = event.target ? name(event.target, false) : "someone";
  const span = event.until === null || event.until === undefined
    ? null
    : durationText(event.until - event.ts);
  const reason = event.reason ? `: ${event.reason}` : "";
  switch (event.action) {
    case "invite":
      return `${actor} invited ${target}`;
    case "kick":
      return `${actor} kicked ${target}${reason}`;
    case "ban":
      return `${actor} banned ${target}${span ? ` for ${span}` : ""}${reason}`;
    case "unban":
      return `${actor} unbanned ${target}`;
    case "mute":
      return `${actor} muted ${target}${span ? ` for ${span}` : ""}${reason}`;
    case "unmute":
      return `${actor} unmuted ${target}`;
    case "role":
      return event.role
        ? `${actor} made ${target} ${ROLE_WORDS[event.role]}`
        : `${actor} changed ${target}'s role`;
    case "update":
      return `${actor} changed the room settings`;
    case "delete":
      return `${actor} deleted the room`;
  }
}
