/**
 * The permission matrix: which server role, room role and room kind may do what. The
 * server enforces it on every frame; the client uses the same table to hide what the
 * user may not do. Bans and mutes are time-bound states the server checks on top.
 */

export const SERVER_ROLES = ["admin", "user", "guest"] as const;
export const ROOM_ROLES = ["owner", "moderator", "member"] as const;
export const ROOM_KINDS = ["public", "private", "announcement", "dm"] as const;

export type ServerRole = (typeof SERVER_ROLES)[number];
export type RoomRole = (typeof ROOM_ROLES)[number];
export type RoomKind = (typeof ROOM_KINDS)[number];

export const PERMISSIONS = [
  "room.create",
  "dm.open",
  "room.join",
  "send",
  "edit.own",
  "delete.own",
  "delete.any",
  "invite",
  "kick",
  "ban",
  "mute",
  "room.update",
  "role.change",
  "room.delete",
  "modlog.read",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Where a user stands relative to one room. */
export interface Standing {
  server: ServerRole;
  kind: RoomKind;
  /** The user's role in the room; null when not a member. */
  room: RoomRole | null;
  /** Holds an invitation to this (private) room. */
  invited?: boolean;
  /** Is one of this dm room's two users. */
  peer?: boolean;
}

export const ROLE_RANK: Record<RoomRole, number> = { member: 1, moderator: 2, owner: 3 };

/**
 * The room role that counts: server admins act as owners in every room but direct
 * messages, and guests never count above member.
 */
export function effectiveRole(s: Standing): RoomRole | null {
  if (s.kind === "dm") return s.peer ? "member" : null;
  if (s.server === "admin") return "owner";
  if (s.server === "guest" && s.room !== null) return "member";
  return s.room;
}

function atLeast(s: Standing, role: RoomRole): boolean {
  const mine = effectiveRole(s);
  return mine !== null && ROLE_RANK[mine] >= ROLE_RANK[role];
}

/** Whether `s` grants `permission`. */
export function allowed(permission: Permission, s: Standing): boolean {
  const moderates = s.kind !== "dm" && atLeast(s, "moderator");
  switch (permission) {
    case "room.create":
    case "dm.open":
      return s.server !== "guest";
    case "room.join":
      if (s.kind === "dm") return s.peer === true;
      if (s.server === "guest") return s.kind === "public" || s.kind === "announcement";
      if (s.kind === "private") return s.room !== null || s.invited === true || moderates;
      return true;
    case "send":
    case "edit.own":
      if (effectiveRole(s) === null) return false;
      if (s.kind === "announcement") return moderates;
      if (s.server === "guest") return s.kind === "public";
      return true;
    case "delete.own":
      return effectiveRole(s) !== null;
    case "delete.any":
    case "invite":
    case "kick":
    case "ban":
    case "mute":
    case "room.update":
    case "role.change":
    case "modlog.read":
      return moderates;
    case "room.delete":
      return s.kind === "dm" ? s.server === "admin" : atLeast(s, "owner");
  }
}

/**
 * Whether an actor may act on a target (kick, ban, mute, change role): only on those
 * ranked below, and never granting a role above the actor's own.
 */
export function mayActOn(actor: RoomRole, target: RoomRole, grant?: RoomRole): boolean {
  if (grant !== undefined && ROLE_RANK[grant] > ROLE_RANK[actor]) return false;
  return ROLE_RANK[target] < ROLE_RANK[actor];
}

/** Why a permission is refused, in words the client can show. */
export const PERMISSION_TEXT: Record<Permission, string> = {
  "room.create": "create rooms",
  "dm.open": "start direct messages",
  "room.join": "join this room",
  "send": "post in this room",
  "edit.own": "edit messages in this room",
  "delete.own": "delete messages in this room",
  "delete.any": "delete other people's messages",
  "invite": "invite people to this room",
  "kick": "kick members",
  "ban": "ban members",
  "mute": "mute members",
  "room.update": "change this room's settings",
  "role.change": "change members' roles",
  "room.delete": "delete this room",
  "modlog.read": "read the moderation log",
};
