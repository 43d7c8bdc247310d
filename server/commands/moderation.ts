/**
 * Moderation commands: invite, kick, ban, mute, change roles, read the moderation log,
 * and close a user's sockets. Each acts on every instance at once, through the Bus.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS } from "../../protocol/limits.ts";
import type { ResultOf } from "../../protocol/messages.ts";
import type { RoomRole } from "../../protocol/permissions.ts";
import { forbidden } from "../access.ts";
import type { Connection } from "../fanout.ts";
import type { Shared } from "./shared.ts";

export class ModerationCommands {
  readonly #s: Shared;

  constructor(shared: Shared) {
    this.#s = shared;
  }

  /** Invite a user to a room; it shows up in their room list at once. */
  async invite(conn: Connection, name: string, userId: string): Promise<void> {
    const { record } = await this.#s.authorize(conn, name, "invite");
    const target = await this.#s.user(userId);
    if (await this.#s.store.isMember(name, userId)) return;
    await this.#s.access.invite(name, userId, conn.user.id);
    this.#s.accessChanged(name);
    await this.#s.moderation(conn, record, "invite", target.user, {});
    this.#s.fanout.toUser(userId, { type: "room", room: this.#s.roomInfo(record) });
  }

  /** Remove a member from the room; they may come back unless it is private. */
  async kick(conn: Connection, name: string, userId: string, reason = ""): Promise<void> {
    const { record } = await this.#s.authorize(conn, name, "kick");
    const target = await this.#s.actOn(conn, record, "kick", userId);
    await this.#s.moderation(conn, record, "kick", target.user, reason ? { reason } : {});
    await this.#expel(name, userId, "kicked");
  }

  /** Ban a user from the room, for `minutes` or for ever; a member is removed at once. */
  async ban(
    conn: Connection,
    name: string,
    userId: string,
    minutes?: number,
    reason = "",
  ): Promise<void> {
    const { record } = await this.#s.authorize(conn, name, "ban");
    const target = await this.#s.actOn(conn, record, "ban", userId);
    const until = minutes === undefined ? null : this.#s.now() + minutes * 60_000;
    await this.#s.access.restrict("ban", name, userId, {
      until,
      by: conn.user,
      reason,
      ts: this.#s.now(),
    });
    await this.#s.access.uninvite(name, userId);
    await this.#s.moderation(conn, record, "ban", target.user, {
      until,
      ...(reason ? { reason } : {}),
    });
    await this.#expel(name, userId, "banned");
  }

  async unban(conn: Connection, name: string, userId: string): Promise<void> {
    await this.#lift(conn, name, userId, "ban");
  }

  /** Lift a ban or a mute: whoever may impose it. */
  async #lift(conn: Connection, name: string, userId: string, kind: "ban" | "mute") {
    const { record } = await this.#s.authorize(conn, name, kind);
    const target = await this.#s.user(userId);
    await this.#s.access.lift(kind, name, userId);
    this.#s.accessChanged(name);
    await this.#s.moderation(conn, record, kind === "ban" ? "unban" : "unmute", target.user, {});
  }

  /** Mute a member for `minutes`: they stay and read, but may not post. */
  async mute(
    conn: Connection,
    name: string,
    userId: string,
    minutes: number,
    reason = "",
  ): Promise<void> {
    const { record } = await this.#s.authorize(conn, name, "mute");
    const target = await this.#s.actOn(conn, record, "mute", userId);
    const until = this.#s.now() + minutes * 60_000;
    await this.#s.access.restrict("mute", name, userId, {
      until,
      by: conn.user,
      reason,
      ts: this.#s.now(),
    });
    this.#s.accessChanged(name);
    await this.#s.moderation(conn, record, "mute", target.user, {
      until,
      ...(reason ? { reason } : {}),
    });
  }

  async unmute(conn: Connection, name: string, userId: string): Promise<void> {
    await this.#lift(conn, name, userId, "mute");
  }

  /** Give a member a role: never above the actor's own, and only to those ranked below. */
  async setRole(conn: Connection, name: string, userId: string, role: RoomRole): Promise<void> {
    const { record } = await this.#s.authorize(conn, name, "role.change");
    if (!await this.#s.store.isMember(name, userId)) {
      throw new ProtocolError("user_not_found", "That user is not a member of this room.");
    }
    const target = await this.#s.actOn(conn, record, "role.change", userId, role);
    if (target.role === "guest" && role !== "member") {
      throw forbidden("role.change", name, "Guests cannot hold room roles.");
    }
    await this.#s.access.setRole(name, userId, role);
    this.#s.accessChanged(name);
    await this.#s.moderation(conn, record, "role", target.user, { role });
  }

  async modlog(
    conn: Connection,
    name: string,
    before: number | undefined,
    limit: number = LIMITS.historyPageDefault,
  ): Promise<ResultOf<"room.modlog">> {
    await this.#s.authorize(conn, name, "modlog.read");
    return await this.#s.access.modlog(name, before, limit);
  }

  /** Close a user's sockets on every instance: all of them, or those of one session. */
  closeUser(userId: string, code: number, reason: string, session?: string): void {
    this.#s.fanout.control({
      type: "close",
      userId,
      code,
      reason,
      ...(session ? { session } : {}),
    });
  }

  /** Take a user out of a room on every instance, and out of its membership. */
  async #expel(room: string, userId: string, reason: "kicked" | "banned"): Promise<void> {
    await this.#s.store.removeMember(room, userId);
    await this.#s.access.setRole(room, userId, null);
    this.#s.accessChanged(room);
    this.#s.fanout.control({ type: "remove", room, userId, reason });
  }
}
