/**
 * Room commands: create, change, delete and list rooms, join and leave them, list their
 * members, and open direct messages. Each is authorized here, once.
 */
import { createHash } from "node:crypto";
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS } from "../../protocol/limits.ts";
import type { Member, Message, ResultOf, RoomInfo, RoomMember } from "../../protocol/messages.ts";
import { allowed } from "../../protocol/permissions.ts";
import { forbidden, type Restriction } from "../access.ts";
import type { Principal } from "../auth/types.ts";
import type { Connection } from "../fanout.ts";
import { hookUser } from "../hooks.ts";
import type { NewRoom, RoomPatch, RoomRecord } from "../store/types.ts";
import { isOpen, type Shared } from "./shared.ts";

export interface JoinOptions {
  limit?: number;
  /** The last seq the client has seen: replay everything after it. */
  after?: number;
  /** The epoch `after` belongs to. */
  epoch?: string;
}

export class RoomCommands {
  readonly #s: Shared;

  constructor(shared: Shared) {
    this.#s = shared;
  }

  async createRoom(
    conn: Connection,
    room: Omit<NewRoom, "createdBy">,
  ): Promise<ResultOf<"room.create">> {
    await this.#s.limit(conn.principal, "room");
    const kind = room.kind ?? "public";
    if (conn.principal.role === "guest" || kind === "dm") throw forbidden("room.create");
    this.#s.checkReceipts(room.receipts);
    if (room.name.startsWith("dm-")) {
      throw new ProtocolError("invalid_room_name", 'Names starting with "dm-" are reserved.');
    }
    const record = await this.#s.store.createRoom({ ...room, kind, createdBy: conn.user.id });
    if (!record) throw new ProtocolError("room_exists", `Room "${room.name}" already exists.`);
    await this.#s.access.setRole(record.name, conn.user.id, "owner");
    await this.#s.store.addMember(record.name, conn.user.id);
    this.#s.accessChanged(record.name);
    await this.#s.announceRoom(record);
    return { room: await this.#s.roomInfoFor(record, conn.principal, true) };
  }

  /** Change a room's title, topic or settings: moderators and up. */
  async updateRoom(
    conn: Connection,
    name: string,
    patch: RoomPatch,
  ): Promise<ResultOf<"room.update">> {
    const { record } = await this.#s.authorize(conn, name, "room.update");
    this.#s.checkReceipts(patch.receipts);
    const updated = (await this.#s.store.updateRoom(name, patch))!;
    this.#s.accessChanged(name);
    await this.#s.moderation(conn, record, "update", null, {});
    await this.#s.announceRoom(updated);
    return { room: await this.#s.roomInfoFor(updated, conn.principal, true) };
  }

  /** Delete a room and its history: its owner, or a server admin. */
  async deleteRoom(conn: Connection, name: string): Promise<void> {
    const { record } = await this.#s.authorize(conn, name, "room.delete");
    await this.#removeRoom(record, "deleted");
  }

  /** The rooms `principal` may see, with their membership and unread counts; public ones without. */
  async listRooms(principal?: Principal): Promise<RoomInfo[]> {
    const records = (await this.#s.store.listRooms()).sort((a, b) => a.name.localeCompare(b.name));
    await this.#s.fanout.presence.count(records.map((r) => r.name));
    if (!principal) {
      return records.filter((r) => isOpen(r.kind) && !r.disabled).map((r) => this.#s.roomInfo(r));
    }
    const member = new Set(await this.#s.store.roomsOf(principal.user.id));
    const visible: RoomInfo[] = [];
    for (const record of records) {
      if (!(await this.#visible(record, principal, member.has(record.name)))) continue;
      visible.push(await this.#s.roomInfoFor(record, principal, member.has(record.name)));
    }
    return visible;
  }

  /** Rooms a user may see: open ones, and the private ones they belong to or are invited to. */
  async #visible(record: RoomRecord, principal: Principal, member: boolean): Promise<boolean> {
    if (record.disabled) return principal.role === "admin";
    if (member) return true;
    if (record.kind === "dm") return false;
    if (isOpen(record.kind)) return true;
    if (principal.role === "admin") return true;
    const standing = await this.#s.access.standing(
      record,
      principal.user.id,
      principal.role,
      false,
    );
    return standing.invited === true;
  }

  async join(
    conn: Connection,
    name: string,
    options: JoinOptions = {},
  ): Promise<ResultOf<"room.join">> {
    const record = await this.#s.record(name);
    const rooms = this.#s.fanout.joined(conn);
    if (!rooms) throw new ProtocolError("hello_required");
    const userId = conn.user.id;
    const member = rooms.has(name) || await this.#s.store.isMember(name, userId);
    const standing = await this.#s.access.standing(record, userId, conn.principal.role, member);
    if (record.disabled) throw forbidden("room.join", name, `#${name} is disabled.`);
    if (standing.ban) throw banned(name, standing.ban, this.#s.now());
    this.#s.access.require("room.join", standing, name);
    if (this.#s.hooks && !rooms.has(name)) {
      await this.#s.hooks.beforeJoin(hookUser(conn.principal), this.#s.roomInfo(record));
    }
    if (standing.invited) {
      await this.#s.access.uninvite(name, userId);
      this.#s.accessChanged(name);
    }
    await this.#s.fanout.enter(conn, name);
    await this.#s.store.addMember(name, conn.user.id);
    const latest = () =>
      this.#s.store.history(name, { limit: options.limit ?? LIMITS.historyPageDefault });
    const replay = options.after === undefined ? null : await this.#replay(record, options);
    const recovered = options.after === undefined ? undefined : replay !== null;
    const page = replay ?? await latest();
    // The record was read before the page; the page may already hold newer entries.
    const lastSeq = Math.max(record.lastSeq, page.messages.at(-1)?.seq ?? 0);
    const room = await this.#s.roomInfoFor({ ...record, lastSeq }, conn.principal, true);
    const receipts = record.receipts ? { receipts: await this.#receipts(name) } : {};
    // The snapshot is taken last, right before the reply goes out: any presence diff sent
    // earlier is already in it, and any sent later applies on top of it.
    const presence = await this.#s.fanout.presence.snapshot(name);
    return {
      room,
      messages: page.messages,
      hasMore: page.hasMore,
      presence,
      ...(recovered === undefined ? {} : { recovered }),
      ...receipts,
    };
  }

  /** Leave a room: this connection stops receiving it and the user is no longer a member. */
  async leave(conn: Connection, name: string): Promise<void> {
    this.#s.fanout.exit(conn, name);
    await this.#s.store.removeMember(name, conn.user.id);
    if (await this.#s.access.roleOf(name, conn.user.id)) {
      await this.#s.access.setRole(name, conn.user.id, null);
      this.#s.accessChanged(name);
    }
    // Membership is the user's, not the device's: their other sockets leave too.
    this.#s.fanout.control({ type: "remove", room: name, userId: conn.user.id, reason: "left" });
  }

  /** Everything after `options.after`, or null when that cannot be given whole. */
  async #replay(
    record: RoomRecord,
    options: JoinOptions,
  ): Promise<{ messages: Message[]; hasMore: boolean } | null> {
    const after = options.after!;
    if (options.epoch !== undefined && options.epoch !== this.#s.store.epoch) return null;
    // A client ahead of the store has seen a timeline this store no longer has (restored data).
    if (after > record.lastSeq) return null;
    const first = await this.#s.store.firstSeq(record.name);
    if (after + 1 < first) return null; // retention removed part of what was missed
    const page = await this.#s.store.history(record.name, { after, limit: this.#s.recoveryMax });
    if (page.hasMore) return null;
    return { messages: page.messages, hasMore: after >= first };
  }

  /** The room's members with their roles; moderators also see bans and invitations. */
  async members(conn: Connection, name: string): Promise<ResultOf<"room.members">> {
    const { record, standing } = await this.#s.authorize(conn, name, null);
    if (standing.room === null && conn.principal.role !== "admin") {
      throw forbidden("room.join", name, `Join #${name} to see its members.`);
    }
    const [ids, roles, mutes] = await Promise.all([
      this.#s.store.membersOf(name),
      this.#s.access.roles(name),
      this.#s.access.mutes(name),
    ]);
    const online = new Set((await this.#s.fanout.presence.snapshot(name)).map((u) => u.id));
    const now = this.#s.now();
    const users = await this.#s.users(ids);
    const members: RoomMember[] = ids.flatMap((id) => {
      const user = users.get(id);
      if (!user) return [];
      const mute = mutes.get(id);
      return [{
        user,
        role: roles.get(id) ?? "member",
        online: online.has(id),
        ...(mute && (mute.until === null || mute.until > now)
          ? { mutedUntil: mute.until ?? 0 }
          : {}),
      }];
    });
    if (!allowed("ban", standing)) return { members };
    const live = [...await this.#s.access.bans(name)].filter(([, ban]) =>
      ban.until === null || ban.until > now
    );
    const invitedIds = await this.#s.access.invited(record.name);
    const named = await this.#s.users([...live.map(([id]) => id), ...invitedIds]);
    const bans = live.map(([id, ban]) => ({
      user: named.get(id) ?? { id, name: id },
      until: ban.until,
      by: ban.by,
      reason: ban.reason,
    }));
    const invited = invitedIds.flatMap((id) => named.get(id) ?? []);
    return { members, bans, invited };
  }

  /** Open (or reopen) the direct-message room between the caller and `userId`. */
  async openDm(conn: Connection, userId: string): Promise<ResultOf<"dm.open">> {
    await this.#s.limit(conn.principal, "room");
    if (conn.principal.role === "guest") throw forbidden("dm.open");
    if (this.#s.features.directMessages === false) {
      throw forbidden("dm.open", undefined, "Direct messages are switched off on this server.");
    }
    if (userId === conn.user.id) {
      throw forbidden("dm.open", undefined, "Pick someone else to message.");
    }
    const target = await this.#s.user(userId);
    if (target.role === "guest") {
      throw forbidden("dm.open", undefined, "Guests cannot receive direct messages.");
    }
    const peers = [conn.user.id, userId].sort();
    const name = `dm-${createHash("sha256").update(peers.join("\n")).digest("hex").slice(0, 24)}`;
    const record = await this.#s.store.getRoom(name) ??
      await this.#s.store.createRoom({ name, kind: "dm", topic: "", createdBy: conn.user.id }) ??
      await this.#s.record(name);
    if (record.disabled) throw forbidden("room.join", name, "This conversation is disabled.");
    if (!(await this.#s.access.peers(name))) {
      await this.#s.access.setPeers(name, peers);
      this.#s.accessChanged(name);
    }
    for (const id of peers) await this.#s.store.addMember(name, id);
    await this.#s.announceRoom(record);
    return { room: await this.#s.roomInfoFor(record, conn.principal, true) };
  }

  async findUser(name: string): Promise<Member> {
    const found = await this.#s.directory.byName(name);
    if (!found) throw new ProtocolError("user_not_found", `No user named "${name}".`);
    return found.user;
  }

  /** Switch a room off (or on again); switching off removes everyone from it at once. */
  async setRoomDisabled(name: string, disabled: boolean): Promise<RoomInfo> {
    const record = await this.#s.store.updateRoom(name, { disabled });
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    this.#s.accessChanged(name);
    if (disabled) {
      const members = await this.#s.store.membersOf(name);
      this.#s.fanout.control({
        type: "remove",
        room: name,
        userId: null,
        reason: "disabled",
        members,
      });
    }
    await this.#s.announceRoom(record);
    return this.#s.roomInfo(record);
  }

  /** Every room, for admins. */
  async allRooms(): Promise<RoomInfo[]> {
    return (await this.#s.store.listRooms()).map((r) => this.#s.roomInfo(r));
  }

  async #receipts(room: string): Promise<{ user: Member; seq: number }[]> {
    const markers = await this.#s.store.readMarkers(room);
    const users = await Promise.all(markers.map((m) => this.#s.store.getUser(m.userId)));
    return markers.flatMap((m, i) => (users[i] ? [{ user: users[i]!, seq: m.seq }] : []));
  }
  async #removeRoom(record: RoomRecord, reason: "deleted"): Promise<void> {
    const members = await this.#s.store.membersOf(record.name);
    this.#s.fanout.control({ type: "remove", room: record.name, userId: null, reason, members });
    await this.#s.store.deleteRoom(record.name, () => this.#s.access.forget(record.name));
    this.#s.accessChanged(record.name);
  }
}

function banned(room: string, ban: Restriction, now: number): ProtocolError {
  const until = ban.until === null ? "for ever" : `until ${new Date(ban.until).toISOString()}`;
  return new ProtocolError(
    "forbidden",
    `You are banned from #${room} ${until}.`,
    ban.until === null ? undefined : Math.max(0, ban.until - now),
    "room.join",
  );
}
