/**
 * What the user may do in a room, from the same permission table the server enforces.
 * The client only hides what would be refused; the server still decides.
 */
import type { Member, RoomInfo } from "../../protocol/messages.ts";
import {
  allowed,
  effectiveRole,
  mayActOn,
  type Permission,
  ROOM_ROLES,
  type RoomRole,
  type ServerRole,
  type Standing,
} from "../../protocol/permissions.ts";

export interface Viewer {
  /** The signed-in user; null before `hello`. */
  user: Member | null;
  /** The server role from `hello`. */
  role: ServerRole | null;
}

/**
 * Where `viewer` stands in `room`. `joined` covers a join reply that did not name a
 * role: a joined public room makes the user a member.
 */
export function standingIn(room: RoomInfo, viewer: Viewer, joined = false): Standing | null {
  if (!viewer.role) return null;
  const peer = room.kind === "dm" && (room.peers ?? []).some((p) => p.id === viewer.user?.id);
  const role = room.role ?? (joined || room.member ? "member" : null);
  return { server: viewer.role, kind: room.kind, room: role, peer };
}

export function can(permission: Permission, standing: Standing | null): boolean {
  return standing !== null && allowed(permission, standing);
}

/** Roles the viewer may give a member who holds `target`; empty when they may not act on them. */
export function grantableRoles(standing: Standing | null, target: RoomRole): RoomRole[] {
  const mine = standing && effectiveRole(standing);
  if (!mine || !can("role.change", standing)) return [];
  return ROOM_ROLES.filter((grant) => grant !== target && mayActOn(mine, target, grant));
}

/** Whether the viewer may kick, ban or mute someone who holds `target` in this room. */
export function mayModerate(
  permission: "kick" | "ban" | "mute",
  standing: Standing | null,
  target: RoomRole,
): boolean {
  const mine = standing && effectiveRole(standing);
  return mine !== null && can(permission, standing) && mayActOn(mine, target);
}

/**
 * Why the user cannot post in `room` right now, or null when they can. Checked in the
 * order a user can do something about: join first, then wait out a mute.
 */
export function postBlock(
  room: RoomInfo,
  standing: Standing | null,
  now: number,
): string | null {
  if (room.disabled) return "This room was disabled by an admin.";
  if (!standing) return "Connecting…";
  if (standing.kind === "announcement" && !can("send", standing) && standing.room !== null) {
    return "Only moderators post in announcement rooms.";
  }
  if (standing.server === "guest" && standing.kind !== "public") {
    return "Guests can only post in public rooms.";
  }
  if (standing.room === null && standing.kind !== "dm") return "Join the room to post.";
  if (!can("send", standing)) return "You may not post in this room.";
  if (room.mutedUntil !== undefined && room.mutedUntil > now) {
    return `You are muted until ${untilText(room.mutedUntil, now)}.`;
  }
  return null;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "14:05" today, a date and time when later. */
export function untilText(until: number, now: number): string {
  return new Date(until).toDateString() === new Date(now).toDateString()
    ? timeFormat.format(until)
    : dateFormat.format(until);
}

/** How a room is named in sentences: "#lounge", or the other person of a dm. */
export function roomRef(room: RoomInfo | undefined, name: string, me: Member | null): string {
  if (!room) return `#${name}`;
  return room.kind === "dm" ? roomLabel(room, me) : `#${roomLabel(room, me)}`;
}

/** "the other person" in a dm, by name; the room's title or name otherwise. */
export function roomLabel(room: RoomInfo, me: Member | null): string {
  if (room.kind === "dm") {
    const other = (room.peers ?? []).find((p) => p.id !== me?.id) ?? room.peers?.[0];
    return other?.name ?? (room.title || room.name);
  }
  return room.title || room.name;
}
