/**
 * The Hub: rooms, membership, presence and typing for this instance's connections,
 * and fan-out. Each broadcast is serialized once; the same string goes to every local
 * recipient and, through the Bus, to every other instance.
 */
import { createHash } from "node:crypto";
import { CLOSE_CODES, ProtocolError } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type {
  Features,
  Member,
  Message,
  ModerationEvent,
  PushFrame,
  ResultOf,
  Retention,
  RoomInfo,
  RoomMember,
} from "../protocol/messages.ts";
import {
  allowed,
  effectiveRole,
  mayActOn,
  type Permission,
  ROLE_RANK,
  type RoomKind,
  type RoomRole,
  type ServerRole,
} from "../protocol/permissions.ts";
import { AccessControl, forbidden, type Restriction, type RoomStanding } from "./access.ts";
import type { Principal } from "./auth/types.ts";
import { type HookRunner, hookUser } from "./extensions.ts";
import type { Bus, BusEnvelope, BusStatus, HubControl } from "./bus/types.ts";
import { MemoryPresenceRegistry } from "./presence/memory.ts";
import type { Presence } from "./presence/types.ts";
import { Sequencer } from "./sequencer.ts";
import type {
  EntryDraft,
  EntryGuard,
  NewRoom,
  RoomPatch,
  RoomRecord,
  Store,
} from "./store/types.ts";

/** One client connection as the hub sees it; the WebSocket adapter implements it. */
export interface Connection {
  readonly id: string;
  readonly user: Member;
  /** Who this is and how they signed in; the hub authorizes every action against it. */
  readonly principal: Principal;
  /** Queue one serialized frame; the adapter may coalesce several into one WebSocket message. */
  send(data: string): void;
  close(code: number, reason: string): void;
}

interface LocalRoom {
  readonly conns: Set<Connection>;
  /** Users present through one or more connections (one entry per user, per-device merge). */
  readonly users: Map<string, { member: Member; conns: number }>;
  /** userId -> time its typing indicator expires. */
  readonly typing: Map<string, number>;
  /** Settles once the Bus delivers the room here and its stream position is known. */
  readonly followed: Promise<void>;
}

export interface HubOptions {
  store: Store;
  bus: Bus;
  /** Who is in which room, cluster-wide; this instance alone by default. */
  presence?: Presence;
  /** Whether a connection's credential still holds (checked after missed Bus messages). */
  stillValid?: (principal: Principal) => Promise<boolean>;
  /** How long a seq gap may wait for the Bus before the Store fills it. */
  gapWaitMs?: number;
  /** How long cached permissions live (the bound on a lost Bus message). */
  accessTtlMs?: number;
  /** Reports background failures (presence, repairs); silent by default. */
  onError?: (what: string, error: unknown) => void;
  now?: () => number;
  typingTtlMs?: number;
  typingThrottleMs?: number;
  roomsPerConnection?: number;
  /** Most entries replayed on a recovering join before the client is told to reload. */
  recoveryMax?: number;
  /** Server-wide retention for rooms without their own. */
  retention?: Retention;
  /** Finds users by id or name, for invitations, direct messages and member lists. */
  directory?: UserDirectory;
  /** The application's hooks around joining, sending and presence. */
  hooks?: HookRunner;
  /** Features the server has switched off are refused as `forbidden`. */
  features?: Partial<Features>;
}

/** Users the server knows, whether or not they are online. */
export interface UserDirectory {
  get(id: string): Promise<{ user: Member; role: ServerRole } | null>;
  byName(name: string): Promise<{ user: Member; role: ServerRole } | null>;
}

export interface JoinOptions {
  limit?: number;
  /** The last seq the client has seen: replay everything after it. */
  after?: number;
  /** The epoch `after` belongs to. */
  epoch?: string;
}

export interface HubStats {
  connections: number;
  activeRooms: number;
  messagesCommitted: number;
  deliveries: number;
}

const UNREAD_CAP = 100;
const PRESENCE_PREFIX = '{"type":"presence"';
/** While the Bus is down, how often followed rooms are read from the Store. */
const POLL_WHILE_DOWN_MS = 1_000;
/** How long /readyz waits for the Store before calling it down. */
const READY_PROBE_MS = 2_000;

export class Hub {
  readonly store: Store;
  readonly #bus: Bus;
  readonly #now: () => number;
  readonly #typingTtlMs: number;
  readonly #typingThrottleMs: number;
  readonly #roomsPerConnection: number;
  readonly #recoveryMax: number;
  readonly #retention: Retention | undefined;
  readonly #rooms = new Map<string, LocalRoom>();
  readonly #connRooms = new Map<Connection, Set<string>>();
  readonly #userConns = new Map<string, Set<Connection>>();
  readonly #unsubscribe: () => void;
  readonly access: AccessControl;
  readonly #directory: UserDirectory;
  readonly #hooks: HookRunner | undefined;
  readonly #features: Partial<Features>;
  #messagesCommitted = 0;
  #deliveries = 0;
  readonly #commitListeners = new Set<(message: Message) => void>();
  readonly #presenceDiffs = new Map<
    string,
    { joins: Map<string, Member>; leaves: Map<string, Member> }
  >();
  #presenceScheduled = false;
  /** Users whose current name this instance has written to the store. */
  readonly #storedNames = new Map<string, string>();
  readonly #presence: Presence;
  readonly #sequencer: Sequencer;
  readonly #stillValid: ((principal: Principal) => Promise<boolean>) | undefined;
  readonly #onError: (what: string, error: unknown) => void;
  /** Rooms' cluster-wide online counts, as last read. */
  readonly #online = new Map<string, number>();
  /** Controls published by this instance, numbered so receivers notice a lost one. */
  #controlsSent = 0;
  /** origin -> number of the last control heard from it. */
  readonly #controlsHeard = new Map<string, number>();
  /** A publish failed: the other instances must resync once the Bus is back. */
  #publishFailed = false;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  readonly #stopStatus: () => void;
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: HubOptions) {
    this.store = options.store;
    this.#bus = options.bus;
    this.#now = options.now ?? Date.now;
    this.#typingTtlMs = options.typingTtlMs ?? LIMITS.typingTtlMs;
    this.#typingThrottleMs = options.typingThrottleMs ?? LIMITS.typingThrottleMs;
    this.#roomsPerConnection = options.roomsPerConnection ?? LIMITS.roomsPerConnection;
    this.#recoveryMax = options.recoveryMax ?? LIMITS.recoveryMax;
    this.#retention = options.retention;
    this.access = new AccessControl(this.store, this.#now, options.accessTtlMs);
    this.#presence = options.presence ?? new MemoryPresenceRegistry().connect(this.#bus.instanceId);
    this.#stillValid = options.stillValid;
    this.#onError = options.onError ?? (() => {});
    this.#sequencer = new Sequencer({
      store: this.store,
      deliver: (room, data) => this.#fanout(room, data, undefined),
      ...(options.gapWaitMs === undefined ? {} : { gapWaitMs: options.gapWaitMs }),
      onError: (error) => this.#onError("gap repair", error),
    });
    this.#directory = options.directory ?? storeDirectory(this.store);
    this.#hooks = options.hooks?.empty ? undefined : options.hooks;
    this.#features = options.features ?? {};
    this.#unsubscribe = this.#bus.subscribe((envelope) => this.#fromBus(envelope));
    this.#stopStatus = this.#bus.onStatus((status) => this.#busStatus(status));
  }

  /** Register a connection that finished its handshake; it now receives server-wide pushes. */
  async connect(conn: Connection): Promise<void> {
    if (this.#connRooms.has(conn)) return;
    this.#connRooms.set(conn, new Set());
    let mine = this.#userConns.get(conn.user.id);
    if (!mine) this.#userConns.set(conn.user.id, mine = new Set());
    mine.add(conn);
    // One write per user and name, not per connection: a reconnect storm writes nothing.
    if (this.#storedNames.get(conn.user.id) !== conn.user.name) {
      await this.store.putUser(conn.user);
      if (this.#storedNames.size >= 100_000) this.#storedNames.clear();
      this.#storedNames.set(conn.user.id, conn.user.name);
    }
  }

  /** Remove a connection from every room it joined. Safe to call more than once. */
  disconnect(conn: Connection): void {
    const rooms = this.#connRooms.get(conn);
    if (!rooms) return;
    for (const room of rooms) this.#removeFromRoom(conn, room);
    this.#connRooms.delete(conn);
    const mine = this.#userConns.get(conn.user.id);
    mine?.delete(conn);
    if (mine?.size === 0) this.#userConns.delete(conn.user.id);
  }

  /** This hub's id on the bus: one per worker or process. */
  get instanceId(): string {
    return this.#bus.instanceId;
  }

  isJoined(conn: Connection, room: string): boolean {
    return this.#connRooms.get(conn)?.has(room) ?? false;
  }

  async createRoom(
    conn: Connection,
    room: Omit<NewRoom, "createdBy">,
  ): Promise<ResultOf<"room.create">> {
    const kind = room.kind ?? "public";
    if (conn.principal.role === "guest" || kind === "dm") throw forbidden("room.create");
    this.#checkReceipts(room.receipts);
    if (room.name.startsWith("dm-")) {
      throw new ProtocolError("invalid_room_name", 'Names starting with "dm-" are reserved.');
    }
    const record = await this.store.createRoom({ ...room, kind, createdBy: conn.user.id });
    if (!record) throw new ProtocolError("room_exists", `Room "${room.name}" already exists.`);
    await this.access.setRole(record.name, conn.user.id, "owner");
    await this.store.addMember(record.name, conn.user.id);
    this.#accessChanged(record.name);
    await this.#announceRoom(record);
    return { room: await this.#roomInfoFor(record, conn.principal, true) };
  }

  /** Change a room's title, topic or settings: moderators and up. */
  async updateRoom(
    conn: Connection,
    name: string,
    patch: RoomPatch,
  ): Promise<ResultOf<"room.update">> {
    const { record } = await this.#authorize(conn, name, "room.update");
    this.#checkReceipts(patch.receipts);
    const updated = (await this.store.updateRoom(name, patch))!;
    this.#accessChanged(name);
    await this.#moderation(conn, record, "update", null, {});
    await this.#announceRoom(updated);
    return { room: await this.#roomInfoFor(updated, conn.principal, true) };
  }

  /** Delete a room and its history: its owner, or a server admin. */
  async deleteRoom(conn: Connection, name: string): Promise<void> {
    const { record } = await this.#authorize(conn, name, "room.delete");
    await this.#removeRoom(record, "deleted");
  }

  /** The rooms `principal` may see, with their membership and unread counts; public ones without. */
  async listRooms(principal?: Principal): Promise<RoomInfo[]> {
    const records = (await this.store.listRooms()).sort((a, b) => a.name.localeCompare(b.name));
    await this.#countOnline(records.map((r) => r.name));
    if (!principal) {
      return records.filter((r) => isOpen(r.kind) && !r.disabled).map((r) => this.roomInfo(r));
    }
    const member = new Set(await this.store.roomsOf(principal.user.id));
    const visible: RoomInfo[] = [];
    for (const record of records) {
      if (!(await this.#visible(record, principal, member.has(record.name)))) continue;
      visible.push(await this.#roomInfoFor(record, principal, member.has(record.name)));
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
    const standing = await this.access.standing(record, principal.user.id, principal.role, false);
    return standing.invited === true;
  }

  async join(
    conn: Connection,
    name: string,
    options: JoinOptions = {},
  ): Promise<ResultOf<"room.join">> {
    const record = await this.#record(name);
    const rooms = this.#connRooms.get(conn);
    if (!rooms) throw new ProtocolError("hello_required");
    const userId = conn.user.id;
    const member = rooms.has(name) || await this.store.isMember(name, userId);
    const standing = await this.access.standing(record, userId, conn.principal.role, member);
    if (record.disabled) throw forbidden("room.join", name, `#${name} is disabled.`);
    if (standing.ban) throw banned(name, standing.ban, this.#now());
    this.access.require("room.join", standing, name);
    if (this.#hooks && !rooms.has(name)) {
      await this.#hooks.beforeJoin(hookUser(conn.principal), this.roomInfo(record));
    }
    if (standing.invited) {
      await this.access.uninvite(name, userId);
      this.#accessChanged(name);
    }
    let present: Promise<void> | undefined;
    if (!rooms.has(name)) {
      if (rooms.size >= this.#roomsPerConnection) throw new ProtocolError("too_many_rooms");
      // Join before reading history, so no entry falls between the replay and live pushes;
      // the client drops the overlap by seq.
      present = this.#addToRoom(conn, name);
      rooms.add(name);
    }
    await this.#rooms.get(name)?.followed;
    await present;
    await this.store.addMember(name, conn.user.id);
    const latest = () =>
      this.store.history(name, { limit: options.limit ?? LIMITS.historyPageDefault });
    const replay = options.after === undefined ? null : await this.#replay(record, options);
    const recovered = options.after === undefined ? undefined : replay !== null;
    const page = replay ?? await latest();
    // The record was read before the page; the page may already hold newer entries.
    const lastSeq = Math.max(record.lastSeq, page.messages.at(-1)?.seq ?? 0);
    const room = await this.#roomInfoFor({ ...record, lastSeq }, conn.principal, true);
    const receipts = record.receipts ? { receipts: await this.#receipts(name) } : {};
    // The snapshot is taken last, right before the reply goes out: any presence diff sent
    // earlier is already in it, and any sent later applies on top of it.
    const presence = await this.#snapshot(name);
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
    const rooms = this.#connRooms.get(conn);
    if (!rooms?.delete(name)) throw new ProtocolError("not_joined", `Not in room "${name}".`);
    this.#removeFromRoom(conn, name);
    await this.store.removeMember(name, conn.user.id);
    if (await this.access.roleOf(name, conn.user.id)) {
      await this.access.setRole(name, conn.user.id, null);
      this.#accessChanged(name);
    }
    // Membership is the user's, not the device's: their other sockets leave too.
    this.#control({ type: "remove", room: name, userId: conn.user.id, reason: "left" });
  }

  /**
   * Commit a message and push it to the room. `committed`, if given, is called with the
   * result in the same microtask as the push, so a reply sent from it goes out in the
   * sender's same frame as the message itself.
   */
  async send(
    conn: Connection,
    room: string,
    text: string,
    nonce: string,
    committed?: (result: ResultOf<"send">) => void,
  ): Promise<ResultOf<"send">> {
    if (!this.#authorizeNow(conn, room, "send")) await this.#authorize(conn, room, "send");
    const hooks = this.#hooks;
    const final = hooks
      ? await hooks.beforeSend(
        { room, text, author: conn.user, kind: "text" },
        hookUser(conn.principal),
      )
      : text;
    const result = await this.#append(
      {
        kind: "text",
        room,
        author: conn.user,
        text: final,
        nonce,
      },
      undefined,
      committed,
    );
    if (!result.duplicate) {
      this.#rooms.get(room)?.typing.delete(conn.user.id);
      hooks?.afterSend(result.message);
    }
    return result;
  }

  /** Authors may edit their own messages. */
  async edit(conn: Connection, room: string, seq: number, text: string): Promise<ResultOf<"edit">> {
    if (this.#features.edits === false) {
      throw forbidden("edit.own", room, "Editing messages is switched off on this server.");
    }
    await this.#authorize(conn, room, "edit.own");
    if (this.#hooks) {
      text = await this.#hooks.beforeSend(
        { room, text, author: conn.user, kind: "edit" },
        hookUser(conn.principal),
      );
    }
    const guard: EntryGuard = (target) => {
      if (target.author.id !== conn.user.id) {
        throw new ProtocolError("forbidden", "Only the author can edit a message.");
      }
    };
    const { message } = await this.#append({
      kind: "edit",
      room,
      author: conn.user,
      target: seq,
      text,
    }, guard);
    return { message };
  }

  /** Authors may delete their own messages, moderators anyone's. */
  async delete(conn: Connection, room: string, seq: number): Promise<ResultOf<"delete">> {
    const { standing } = await this.#authorize(conn, room, "delete.own");
    const moderates = allowed("delete.any", standing);
    const guard: EntryGuard = (target) => {
      if (target.author.id !== conn.user.id && !moderates) throw forbidden("delete.any", room);
    };
    const { message } = await this.#append(
      { kind: "delete", room, author: conn.user, target: seq },
      guard,
    );
    return { message };
  }

  async history(
    conn: Connection,
    room: string,
    query: { before?: number; after?: number; limit?: number },
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    this.#requireJoined(conn, room);
    const { before, after } = query;
    return await this.store.history(room, {
      limit: query.limit ?? LIMITS.historyPageDefault,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    });
  }

  /** Move the caller's read marker; their other devices and, with receipts on, the room hear of it. */
  async read(conn: Connection, room: string, seq: number): Promise<ResultOf<"read">> {
    this.#requireJoined(conn, room);
    const record = await this.access.room(room);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${room}".`);
    const { seq: marker, moved } = await this.store.setReadMarker(room, conn.user.id, seq);
    if (moved) {
      this.#toUser(conn.user.id, { type: "read", room, seq: marker }, conn);
      if (record.receipts) {
        this.broadcast(room, { type: "receipt", room, user: conn.user, seq: marker });
      }
    }
    return { seq: marker };
  }

  /** Typing indicators are throttled here too, so a chatty client cannot flood the room. */
  typing(conn: Connection, room: string, active: boolean): void {
    this.#requireJoined(conn, room);
    const local = this.#rooms.get(room)!;
    const userId = conn.user.id;
    if (active) {
      const now = this.#now();
      const expires = local.typing.get(userId);
      local.typing.set(userId, now + this.#typingTtlMs);
      if (expires !== undefined && expires - now > this.#typingTtlMs - this.#typingThrottleMs) {
        return;
      }
    } else if (!local.typing.delete(userId)) {
      return;
    }
    this.broadcast(room, { type: "typing", room, user: conn.user, active }, userId);
  }

  /** The room's members with their roles; moderators also see bans and invitations. */
  async members(conn: Connection, name: string): Promise<ResultOf<"room.members">> {
    const { record, standing } = await this.#authorize(conn, name, null);
    if (standing.room === null && conn.principal.role !== "admin") {
      throw forbidden("room.join", name, `Join #${name} to see its members.`);
    }
    const [ids, roles, mutes] = await Promise.all([
      this.store.membersOf(name),
      this.access.roles(name),
      this.access.mutes(name),
    ]);
    const online = new Set((await this.#snapshot(name)).map((u) => u.id));
    const now = this.#now();
    const users = await this.#users(ids);
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
    const live = [...await this.access.bans(name)].filter(([, ban]) =>
      ban.until === null || ban.until > now
    );
    const invitedIds = await this.access.invited(record.name);
    const named = await this.#users([...live.map(([id]) => id), ...invitedIds]);
    const bans = live.map(([id, ban]) => ({
      user: named.get(id) ?? { id, name: id },
      until: ban.until,
      by: ban.by,
      reason: ban.reason,
    }));
    const invited = invitedIds.flatMap((id) => named.get(id) ?? []);
    return { members, bans, invited };
  }

  /** Invite a user to a room; it shows up in their room list at once. */
  async invite(conn: Connection, name: string, userId: string): Promise<void> {
    const { record } = await this.#authorize(conn, name, "invite");
    const target = await this.#user(userId);
    if (await this.store.isMember(name, userId)) return;
    await this.access.invite(name, userId, conn.user.id);
    this.#accessChanged(name);
    await this.#moderation(conn, record, "invite", target.user, {});
    this.#toUser(userId, { type: "room", room: this.roomInfo(record) });
  }

  /** Remove a member from the room; they may come back unless it is private. */
  async kick(conn: Connection, name: string, userId: string, reason = ""): Promise<void> {
    const { record } = await this.#authorize(conn, name, "kick");
    const target = await this.#actOn(conn, record, "kick", userId);
    await this.#moderation(conn, record, "kick", target.user, reason ? { reason } : {});
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
    const { record } = await this.#authorize(conn, name, "ban");
    const target = await this.#actOn(conn, record, "ban", userId);
    const until = minutes === undefined ? null : this.#now() + minutes * 60_000;
    await this.access.restrict("ban", name, userId, {
      until,
      by: conn.user,
      reason,
      ts: this.#now(),
    });
    await this.access.uninvite(name, userId);
    await this.#moderation(conn, record, "ban", target.user, {
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
    const { record } = await this.#authorize(conn, name, kind);
    const target = await this.#user(userId);
    await this.access.lift(kind, name, userId);
    this.#accessChanged(name);
    await this.#moderation(conn, record, kind === "ban" ? "unban" : "unmute", target.user, {});
  }

  /** Mute a member for `minutes`: they stay and read, but may not post. */
  async mute(
    conn: Connection,
    name: string,
    userId: string,
    minutes: number,
    reason = "",
  ): Promise<void> {
    const { record } = await this.#authorize(conn, name, "mute");
    const target = await this.#actOn(conn, record, "mute", userId);
    const until = this.#now() + minutes * 60_000;
    await this.access.restrict("mute", name, userId, {
      until,
      by: conn.user,
      reason,
      ts: this.#now(),
    });
    this.#accessChanged(name);
    await this.#moderation(conn, record, "mute", target.user, {
      until,
      ...(reason ? { reason } : {}),
    });
  }

  async unmute(conn: Connection, name: string, userId: string): Promise<void> {
    await this.#lift(conn, name, userId, "mute");
  }

  /** Give a member a role: never above the actor's own, and only to those ranked below. */
  async setRole(conn: Connection, name: string, userId: string, role: RoomRole): Promise<void> {
    const { record } = await this.#authorize(conn, name, "role.change");
    if (!await this.store.isMember(name, userId)) {
      throw new ProtocolError("user_not_found", "That user is not a member of this room.");
    }
    const target = await this.#actOn(conn, record, "role.change", userId, role);
    if (target.role === "guest" && role !== "member") {
      throw forbidden("role.change", name, "Guests cannot hold room roles.");
    }
    await this.access.setRole(name, userId, role);
    this.#accessChanged(name);
    await this.#moderation(conn, record, "role", target.user, { role });
  }

  async modlog(
    conn: Connection,
    name: string,
    before: number | undefined,
    limit: number = LIMITS.historyPageDefault,
  ): Promise<ResultOf<"room.modlog">> {
    await this.#authorize(conn, name, "modlog.read");
    return await this.access.modlog(name, before, limit);
  }

  /** Open (or reopen) the direct-message room between the caller and `userId`. */
  async openDm(conn: Connection, userId: string): Promise<ResultOf<"dm.open">> {
    if (conn.principal.role === "guest") throw forbidden("dm.open");
    if (this.#features.directMessages === false) {
      throw forbidden("dm.open", undefined, "Direct messages are switched off on this server.");
    }
    if (userId === conn.user.id) {
      throw forbidden("dm.open", undefined, "Pick someone else to message.");
    }
    const target = await this.#user(userId);
    if (target.role === "guest") {
      throw forbidden("dm.open", undefined, "Guests cannot receive direct messages.");
    }
    const peers = [conn.user.id, userId].sort();
    const name = `dm-${createHash("sha256").update(peers.join("\n")).digest("hex").slice(0, 24)}`;
    const record = await this.store.getRoom(name) ??
      await this.store.createRoom({ name, kind: "dm", topic: "", createdBy: conn.user.id }) ??
      await this.#record(name);
    if (record.disabled) throw forbidden("room.join", name, "This conversation is disabled.");
    if (!(await this.access.peers(name))) {
      await this.access.setPeers(name, peers);
      this.#accessChanged(name);
    }
    for (const id of peers) await this.store.addMember(name, id);
    await this.#announceRoom(record);
    return { room: await this.#roomInfoFor(record, conn.principal, true) };
  }

  async findUser(name: string): Promise<Member> {
    const found = await this.#directory.byName(name);
    if (!found) throw new ProtocolError("user_not_found", `No user named "${name}".`);
    return found.user;
  }

  /** Close a user's sockets on every instance: all of them, or those of one session. */
  closeUser(userId: string, code: number, reason: string, session?: string): void {
    this.#control({ type: "close", userId, code, reason, ...(session ? { session } : {}) });
  }

  /** Switch a room off (or on again); switching off removes everyone from it at once. */
  async setRoomDisabled(name: string, disabled: boolean): Promise<RoomInfo> {
    const record = await this.store.updateRoom(name, { disabled });
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    this.#accessChanged(name);
    if (disabled) {
      const members = await this.store.membersOf(name);
      this.#control({ type: "remove", room: name, userId: null, reason: "disabled", members });
    }
    await this.#announceRoom(record);
    return this.roomInfo(record);
  }

  /** A `custom` push from an application's frame handler: to a room, or to one user. */
  pushCustom(to: { room: string } | { userId: string }, name: string, data: unknown): void {
    if (!/^x\.[a-z0-9_.-]{1,60}$/.test(name)) {
      throw new Error(`custom push name "${name}" must look like "x.app.event"`);
    }
    if ("room" in to) {
      this.broadcast(to.room, { type: "custom", name, room: to.room, data });
    } else this.#toUser(to.userId, { type: "custom", name, data });
  }

  #checkReceipts(receipts: boolean | undefined): void {
    if (receipts && this.#features.receipts === false) {
      throw forbidden("room.update", undefined, "Read receipts are switched off on this server.");
    }
  }

  /** Every room, for admins. */
  async allRooms(): Promise<RoomInfo[]> {
    return (await this.store.listRooms()).map((r) => this.roomInfo(r));
  }

  /** Apply retention to every room (its own limits, else the server's). */
  async sweep(now: number = this.#now()): Promise<number> {
    let removed = 0;
    for (const room of await this.store.listRooms()) {
      const retention = room.retention ?? this.#retention;
      if (retention) removed += (await this.store.prune(room.name, retention, now)).removed;
    }
    return removed;
  }

  /** Serialize once; deliver locally and to every other instance. */
  broadcast(room: string | null, frame: PushFrame, excludeUser?: string): void {
    const data = JSON.stringify(frame);
    this.#fanout(room, data, excludeUser);
    this.#publish(excludeUser === undefined ? { room, data } : { room, data, excludeUser });
  }

  roomInfo(record: RoomRecord): RoomInfo {
    return {
      name: record.name,
      kind: record.kind,
      title: record.title,
      topic: record.topic,
      createdAt: record.createdAt,
      createdBy: record.createdBy,
      lastSeq: record.lastSeq,
      online: this.#online.get(record.name) ?? this.#rooms.get(record.name)?.users.size ?? 0,
      receipts: record.receipts,
      ...(record.retention ? { retention: record.retention } : {}),
      ...(record.disabled ? { disabled: true as const } : {}),
    };
  }

  /**
   * Whether this instance can do its whole job: its Store answers and its Bus is linked.
   * With the Bus down it still commits and serves, but other instances' messages reach
   * its clients only by polling the Store: "degraded".
   */
  async readiness(): Promise<{ ok: boolean; store: "up" | "down"; bus: BusStatus }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const store = await Promise.race([
      this.store.getRoom("readyz-probe").then(() => "up" as const, () => "down" as const),
      new Promise<"down">((resolve) => timer = setTimeout(() => resolve("down"), READY_PROBE_MS)),
    ]);
    clearTimeout(timer);
    const bus = this.#bus.status;
    return { ok: store === "up" && bus === "up", store, bus };
  }

  stats(): HubStats {
    return {
      connections: this.#connRooms.size,
      activeRooms: this.#rooms.size,
      messagesCommitted: this.#messagesCommitted,
      deliveries: this.#deliveries,
    };
  }

  /** Close every connection (e.g. on shutdown) and stop listening to the bus. */
  close(code: number, reason: string): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#stopStatus();
    clearInterval(this.#pollTimer);
    this.#presenceDiffs.clear();
    for (const conn of [...this.#connRooms.keys()]) {
      this.disconnect(conn);
      conn.close(code, reason);
    }
    this.#stopRefresh();
    this.#sequencer.closeAll();
  }

  /** Settles once the presence writes and resyncs under way have finished. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /**
   * Call `listener` with every entry this instance commits (text, edit, delete), after
   * the commit and the broadcast. Listeners must not block: queue the work elsewhere.
   */
  onCommit(listener: (message: Message) => void): () => void {
    this.#commitListeners.add(listener);
    return () => this.#commitListeners.delete(listener);
  }

  /** Commit an entry and push it to the room. */
  async #append(
    draft: EntryDraft,
    guard?: EntryGuard,
    committed?: (result: ResultOf<"send">) => void,
  ): Promise<ResultOf<"send">> {
    const result = await this.store.append(draft, guard);
    if (!result.duplicate) {
      this.#messagesCommitted++;
      const { room, seq } = result.message;
      const data = JSON.stringify({ type: "message", message: result.message } satisfies PushFrame);
      this.#sequencer.offer(room, seq, data);
      this.#publish({ room, data, seq });
    }
    // Right after the push, in the same microtask: both leave in one flush.
    committed?.(result);
    if (!result.duplicate) {
      for (const listener of this.#commitListeners) {
        try {
          listener(result.message);
        } catch {
          // A listener's failure is its own; the commit stands and the sender gets its reply.
        }
      }
    }
    return result;
  }

  /** Everything after `options.after`, or null when that cannot be given whole. */
  async #replay(
    record: RoomRecord,
    options: JoinOptions,
  ): Promise<{ messages: Message[]; hasMore: boolean } | null> {
    const after = options.after!;
    if (options.epoch !== undefined && options.epoch !== this.store.epoch) return null;
    // A client ahead of the store has seen a timeline this store no longer has (restored data).
    if (after > record.lastSeq) return null;
    const first = await this.store.firstSeq(record.name);
    if (after + 1 < first) return null; // retention removed part of what was missed
    const page = await this.store.history(record.name, { after, limit: this.#recoveryMax });
    if (page.hasMore) return null;
    return { messages: page.messages, hasMore: after >= first };
  }

  async #record(name: string): Promise<RoomRecord> {
    const record = await this.store.getRoom(name);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    return record;
  }

  async #roomInfoFor(
    record: RoomRecord,
    principal: Principal,
    member: boolean,
  ): Promise<RoomInfo> {
    await this.#countOnline([record.name]);
    const info = await this.#withPeers(this.roomInfo(record));
    if (!member) return { ...info, member };
    const userId = principal.user.id;
    const [readSeq, unread, standing] = await Promise.all([
      this.store.readMarker(record.name, userId),
      this.store.unreadCount(record.name, userId, UNREAD_CAP),
      this.access.standing(record, userId, principal.role, true),
    ]);
    const role = effectiveRole(standing) ?? "member";
    return {
      ...info,
      member,
      readSeq,
      unread,
      role,
      ...(standing.mute ? { mutedUntil: standing.mute.until ?? Number.MAX_SAFE_INTEGER } : {}),
    };
  }

  /**
   * Check `permission` (null: only that the room exists and is usable) for the caller.
   * Posting needs a joined connection; a mute refuses it with the time it ends.
   */
  async #authorize(
    conn: Connection,
    name: string,
    permission: Permission | null,
  ): Promise<{ record: RoomRecord; standing: RoomStanding }> {
    const posting = permission === "send" || permission === "edit.own" ||
      permission === "delete.own";
    if (posting) this.#requireJoined(conn, name);
    const record = await this.access.room(name);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    this.#refuseDisabled(conn, record, permission);
    const member = this.isJoined(conn, name) ||
      await this.store.isMember(name, conn.user.id);
    const standing = await this.access.standing(
      record,
      conn.user.id,
      conn.principal.role,
      member,
    );
    this.#permit(name, permission, standing);
    return { record, standing };
  }

  /**
   * `#authorize` without an await, for the hot path: when the room's access is cached and
   * the caller has joined it. Undefined means: take the async path.
   */
  #authorizeNow(
    conn: Connection,
    name: string,
    permission: Permission,
  ): { record: RoomRecord; standing: RoomStanding } | undefined {
    if (!this.isJoined(conn, name)) return undefined;
    const now = this.access.standingNow(name, conn.user.id, conn.principal.role);
    if (!now) return undefined;
    const { record, standing } = now;
    if (!record || !standing) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    this.#refuseDisabled(conn, record, permission);
    this.#permit(name, permission, standing);
    return { record, standing };
  }

  #refuseDisabled(conn: Connection, record: RoomRecord, permission: Permission | null): void {
    if (record.disabled && !(permission === "room.delete" && conn.principal.role === "admin")) {
      throw forbidden(permission ?? "room.join", record.name, `#${record.name} is disabled.`);
    }
  }

  #permit(name: string, permission: Permission | null, standing: RoomStanding): void {
    if (permission) this.access.require(permission, standing, name);
    if ((permission === "send" || permission === "edit.own") && standing.mute) {
      const until = standing.mute.until ?? Number.MAX_SAFE_INTEGER;
      throw new ProtocolError(
        "forbidden",
        `You are muted in #${name} until ${new Date(until).toISOString()}.`,
        Math.max(0, until - this.#now()),
        "send",
      );
    }
  }

  /** The target of a kick, ban, mute or role change, if the caller outranks them. */
  async #actOn(
    conn: Connection,
    record: RoomRecord,
    permission: Permission,
    userId: string,
    grant?: RoomRole,
  ): Promise<{ user: Member; role: ServerRole }> {
    const target = await this.#user(userId);
    if (userId === conn.user.id) {
      throw forbidden(permission, record.name, "You cannot do that to yourself.");
    }
    const member = await this.store.isMember(record.name, userId);
    const [mine, theirs] = await Promise.all([
      this.access.standing(record, conn.user.id, conn.principal.role, true),
      this.access.standing(record, userId, target.role, member),
    ]);
    const actor = effectiveRole(mine) ?? "member";
    const targetRole = effectiveRole(theirs) ?? "member";
    const admin = conn.principal.role === "admin" && target.role !== "admin";
    if (!admin && !mayActOn(actor, targetRole, grant)) {
      throw forbidden(
        permission,
        record.name,
        grant && ROLE_RANK[grant] > ROLE_RANK[actor]
          ? `You cannot grant ${grant}, a role above your own.`
          : `You cannot ${permission === "role.change" ? "change the role of" : permission} ` +
            `${target.user.name}: their role is not below yours.`,
      );
    }
    return target;
  }

  /** The users among `ids` the directory knows, looked up together. */
  async #users(ids: string[]): Promise<Map<string, Member>> {
    const found = await Promise.all(ids.map((id) => this.#directory.get(id)));
    return new Map(found.flatMap((f) => (f ? [[f.user.id, f.user] as const] : [])));
  }

  async #user(id: string): Promise<{ user: Member; role: ServerRole }> {
    const found = await this.#directory.get(id);
    if (!found) throw new ProtocolError("user_not_found", `No user with id "${id}".`);
    return found;
  }

  /** Record a moderation action, show it to the room, and to its target if outside. */
  async #moderation(
    conn: Connection,
    record: RoomRecord,
    action: ModerationEvent["action"],
    target: Member | null,
    extra: Pick<ModerationEvent, "until" | "role" | "reason">,
  ): Promise<ModerationEvent> {
    const event: ModerationEvent = {
      id: crypto.randomUUID(),
      room: record.name,
      action,
      actor: conn.user,
      ...(target ? { target } : {}),
      ts: this.#now(),
      ...extra,
    };
    await this.access.log(event);
    const frame: PushFrame = { type: "moderation", event };
    this.broadcast(record.name, frame);
    const targetInRoom = target && this.#rooms.get(record.name)?.users.has(target.id);
    if (target && !targetInRoom) this.#toUser(target.id, frame);
    return event;
  }

  /** Take a user out of a room on every instance, and out of its membership. */
  async #expel(room: string, userId: string, reason: "kicked" | "banned"): Promise<void> {
    await this.store.removeMember(room, userId);
    await this.access.setRole(room, userId, null);
    this.#accessChanged(room);
    this.#control({ type: "remove", room, userId, reason });
  }

  async #removeRoom(record: RoomRecord, reason: "deleted"): Promise<void> {
    const members = await this.store.membersOf(record.name);
    this.#control({ type: "remove", room: record.name, userId: null, reason, members });
    await this.store.deleteRoom(record.name, () => this.access.forget(record.name));
    this.#accessChanged(record.name);
  }

  /** A dm room's info with its two users named; other rooms as they are. */
  async #withPeers(info: RoomInfo): Promise<RoomInfo> {
    if (info.kind !== "dm") return info;
    const ids = await this.access.peers(info.name) ?? [];
    const users = await this.#users(ids);
    return { ...info, peers: ids.flatMap((id) => users.get(id) ?? []) };
  }

  /** Tell those who may see a room that it was created or changed. */
  async #announceRoom(record: RoomRecord): Promise<void> {
    const frame: PushFrame = { type: "room", room: this.roomInfo(record) };
    if (isOpen(record.kind) && !record.disabled) {
      this.broadcast(null, frame);
      return;
    }
    const audience = new Set(await this.store.membersOf(record.name));
    for (const id of await this.access.invited(record.name)) audience.add(id);
    if (record.kind === "dm") {
      const data: PushFrame = { type: "room", room: await this.#withPeers(frame.room) };
      for (const id of audience) this.#toUser(id, data);
      return;
    }
    for (const id of audience) this.#toUser(id, frame);
  }

  #accessChanged(room: string): void {
    this.#control({ type: "access", room });
  }

  /** Apply a control here and on every other instance. */
  #control(control: HubControl): void {
    this.#applyControl(control);
    this.#publish({ room: null, data: "", control, controlSeq: ++this.#controlsSent });
  }

  /** Publish to the other instances; a failure makes them resync once the Bus is back. */
  #publish(envelope: Omit<BusEnvelope, "origin">): void {
    if (this.#bus.status === "down") {
      this.#publishFailed = true;
      return;
    }
    this.#bus.publish(envelope).catch((error) => {
      this.#publishFailed = true;
      this.#onError("bus publish", error);
    });
  }

  #busStatus(status: BusStatus): void {
    if (this.#closed) return;
    if (status === "down") {
      // Until the Bus is back, other instances' entries reach this one from the Store.
      this.#pollTimer ??= setInterval(() => {
        this.#sequencer.catchUpAll().catch((error) => this.#onError("catch-up", error));
      }, POLL_WHILE_DOWN_MS);
      return;
    }
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    if (this.#publishFailed) {
      this.#publishFailed = false;
      this.#control({ type: "resync" });
    }
    this.#track(this.#resync()).catch((error) => this.#onError("resync", error));
  }

  /**
   * After Bus messages may have been lost: reload permissions, take every local
   * connection out of rooms it may no longer be in (or off a revoked session), write this
   * instance's presence again, and catch every followed room up from the Store.
   */
  async #resync(): Promise<void> {
    this.access.invalidateAll();
    for (const [conn, rooms] of [...this.#connRooms]) {
      if (this.#stillValid && !(await this.#stillValid(conn.principal))) {
        this.disconnect(conn);
        conn.close(CLOSE_CODES.sessionRevoked, "session revoked");
        continue;
      }
      for (const room of [...rooms]) {
        const reason = await this.#stillIn(conn, room);
        if (reason) this.#applyControl({ type: "remove", room, userId: conn.user.id, reason });
      }
    }
    for (const [room, local] of this.#rooms) {
      for (const conn of local.conns) {
        await this.#presence.add(room, conn.user, conn.id).catch((error) =>
          this.#onError("presence", error)
        );
      }
    }
    await this.#sequencer.catchUpAll();
  }

  /** Why `conn` may no longer be in `room`, or null when it may. */
  async #stillIn(
    conn: Connection,
    room: string,
  ): Promise<"deleted" | "disabled" | "banned" | "kicked" | null> {
    const record = await this.access.room(room);
    if (!record) return "deleted";
    if (record.disabled) return "disabled";
    const member = await this.store.isMember(room, conn.user.id);
    const standing = await this.access.standing(record, conn.user.id, conn.principal.role, member);
    if (standing.ban) return "banned";
    return member ? null : "kicked";
  }

  #startRefresh(): void {
    this.#refreshTimer ??= setInterval(() => {
      this.#presence.refresh([...this.#rooms.keys()]).then((expired) => {
        for (const { room, user } of expired) this.#presenceChanged(room, user, false);
      }, (error) => this.#onError("presence refresh", error));
    }, this.#presence.ttlMs / 3);
  }

  #stopRefresh(): void {
    clearInterval(this.#refreshTimer);
    this.#refreshTimer = undefined;
  }

  #applyControl(control: HubControl): void {
    switch (control.type) {
      case "resync":
        this.#track(this.#resync()).catch((error) => this.#onError("resync", error));
        return;
      case "access":
        this.access.invalidate(control.room);
        return;
      case "remove": {
        const removed = JSON.stringify(
          {
            type: "room.removed",
            room: control.room,
            reason: control.reason,
          } satisfies PushFrame,
        );
        const local = this.#rooms.get(control.room);
        // Everyone told: the joined sockets, and every socket of the users named, so a
        // device that is not looking at the room drops it from its list too.
        const told = new Set<Connection>();
        const targets = control.userId === null
          ? [...local?.conns ?? []]
          : [...this.#userConns.get(control.userId) ?? []];
        for (const id of control.members ?? []) targets.push(...this.#userConns.get(id) ?? []);
        for (const conn of targets) {
          if (told.has(conn)) continue;
          told.add(conn);
          conn.send(removed);
          if (this.#connRooms.get(conn)?.delete(control.room)) {
            this.#removeFromRoom(conn, control.room);
          }
        }
        return;
      }
      case "close":
        for (const conn of [...this.#userConns.get(control.userId) ?? []]) {
          if (control.session !== undefined && conn.principal.session !== control.session) {
            continue;
          }
          this.disconnect(conn);
          conn.close(control.code, control.reason);
        }
        return;
    }
  }

  async #receipts(room: string): Promise<{ user: Member; seq: number }[]> {
    const markers = await this.store.readMarkers(room);
    const users = await Promise.all(markers.map((m) => this.store.getUser(m.userId)));
    return markers.flatMap((m, i) => (users[i] ? [{ user: users[i]!, seq: m.seq }] : []));
  }

  #requireJoined(conn: Connection, room: string): void {
    if (!this.#connRooms.get(conn)?.has(room)) {
      throw new ProtocolError("not_joined", `Join room "${room}" first.`);
    }
  }

  /** Settles once the cluster-wide presence entry is written (and any join announced). */
  #addToRoom(conn: Connection, name: string): Promise<void> {
    let local = this.#rooms.get(name);
    if (!local) {
      local = {
        conns: new Set(),
        users: new Map(),
        typing: new Map(),
        followed: this.#follow(name),
      };
      this.#rooms.set(name, local);
    }
    const present = local.users.get(conn.user.id);
    if (present) present.conns++;
    else local.users.set(conn.user.id, { member: conn.user, conns: 1 });
    local.conns.add(conn);
    return this.#track(
      this.#presence.add(name, conn.user, conn.id).then((first) => {
        if (first) this.#presenceChanged(name, conn.user, true);
      }, (error) => this.#onError("presence", error)),
    );
  }

  #removeFromRoom(conn: Connection, name: string): void {
    const local = this.#rooms.get(name);
    if (!local?.conns.delete(conn)) return;
    const present = local.users.get(conn.user.id);
    if (present && --present.conns === 0) {
      local.users.delete(conn.user.id);
      local.typing.delete(conn.user.id);
    }
    this.#track(
      this.#presence.remove(name, conn.user.id, conn.id).then((last) => {
        if (last) this.#presenceChanged(name, conn.user, false);
      }, (error) => this.#onError("presence", error)),
    );
    if (local.conns.size === 0) {
      this.#rooms.delete(name);
      this.#unfollow(name);
    }
  }

  /** Receive the room over the Bus, and place its stream where the Store has it now. */
  async #follow(room: string): Promise<void> {
    this.#startRefresh();
    try {
      await this.#bus.watch(room);
      if (this.#rooms.has(room)) {
        const record = await this.store.getRoom(room);
        this.#sequencer.open(room, record?.lastSeq ?? 0);
      }
    } catch (error) {
      // The room still works here; other instances' entries arrive by catch-up.
      this.#onError("follow", error);
      if (this.#rooms.has(room) && !this.#sequencer.following(room)) {
        const record = await this.store.getRoom(room);
        this.#sequencer.open(room, record?.lastSeq ?? 0);
      }
    }
  }

  #unfollow(room: string): void {
    this.#sequencer.close(room);
    this.#online.delete(room);
    this.#bus.unwatch(room).catch((error) => this.#onError("unwatch", error));
    if (this.#rooms.size === 0) this.#stopRefresh();
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    promise.finally(() => this.#pending.delete(promise));
    return promise;
  }

  /** The users present in a room on every instance; this instance's alone if Presence fails. */
  async #snapshot(room: string): Promise<Member[]> {
    try {
      const users = await this.#presence.snapshot(room);
      this.#online.set(room, users.length);
      return users;
    } catch (error) {
      this.#onError("presence", error);
      return [...this.#rooms.get(room)?.users.values() ?? []].map((u) => u.member);
    }
  }

  /** Refresh the cached cluster-wide online counts of `rooms`. */
  async #countOnline(rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    try {
      for (const [room, count] of await this.#presence.counts(rooms)) {
        if (count > 0) this.#online.set(room, count);
        else this.#online.delete(room);
      }
    } catch (error) {
      this.#onError("presence", error);
    }
  }

  /**
   * Presence changes go out as one diff per room at the end of the task (a microtask, so
   * they keep their order with the messages that follow): joins and leaves that land in
   * one task (a disconnect leaving many rooms, a bus delivery) share a frame, and a join
   * and a leave of the same user cancel out.
   */
  #presenceChanged(room: string, user: Member, joined: boolean): void {
    let diff = this.#presenceDiffs.get(room);
    if (!diff) this.#presenceDiffs.set(room, diff = { joins: new Map(), leaves: new Map() });
    const [add, cancel] = joined ? [diff.joins, diff.leaves] : [diff.leaves, diff.joins];
    if (!cancel.delete(user.id)) add.set(user.id, user);
    if (!this.#presenceScheduled) {
      this.#presenceScheduled = true;
      queueMicrotask(() => this.#flushPresence());
    }
  }

  #flushPresence(): void {
    this.#presenceScheduled = false;
    const diffs = [...this.#presenceDiffs];
    this.#presenceDiffs.clear();
    for (const [room, diff] of diffs) {
      if (diff.joins.size === 0 && diff.leaves.size === 0) continue;
      const event = { room, joins: [...diff.joins.values()], leaves: [...diff.leaves.values()] };
      // A lone newcomer learns of itself from its join reply's snapshot, not from a diff.
      const only = event.joins.length === 1 && event.leaves.length === 0
        ? event.joins[0]!.id
        : undefined;
      this.broadcast(room, { type: "presence", ...event }, only);
      this.#adjustOnline(room, event.joins.length - event.leaves.length);
      this.#hooks?.onPresence(event);
    }
  }

  /** Keep a counted room's cluster-wide online count in step with presence diffs. */
  #adjustOnline(room: string, delta: number): void {
    const count = this.#online.get(room);
    if (count !== undefined) this.#online.set(room, Math.max(0, count + delta));
  }

  /** A push for one user's connections on every instance, except `skip`. */
  #toUser(userId: string, frame: PushFrame, skip?: Connection): void {
    const data = JSON.stringify(frame);
    for (const conn of this.#userConns.get(userId) ?? []) if (conn !== skip) conn.send(data);
    this.#publish({ room: null, data, toUser: userId });
  }

  #fromBus(envelope: BusEnvelope): void {
    if (envelope.origin === this.#bus.instanceId) return;
    if (envelope.control) {
      this.#applyControl(envelope.control);
      this.#heardControl(envelope.origin, envelope.controlSeq);
      return;
    }
    if (envelope.seq !== undefined && envelope.room !== null) {
      this.#sequencer.offer(envelope.room, envelope.seq, envelope.data);
      return;
    }
    if (envelope.room !== null && envelope.data.startsWith(PRESENCE_PREFIX)) {
      const diff = JSON.parse(envelope.data) as { joins: unknown[]; leaves: unknown[] };
      this.#adjustOnline(envelope.room, diff.joins.length - diff.leaves.length);
    }
    if (envelope.toUser !== undefined) {
      for (const conn of this.#userConns.get(envelope.toUser) ?? []) conn.send(envelope.data);
      return;
    }
    this.#fanout(envelope.room, envelope.data, envelope.excludeUser);
  }

  /** A control numbered past the next one expected from its origin means one was lost. */
  #heardControl(origin: string, number: number | undefined): void {
    if (number === undefined) return;
    const last = this.#controlsHeard.get(origin);
    if (this.#controlsHeard.size >= 10_000 && last === undefined) this.#controlsHeard.clear();
    this.#controlsHeard.set(origin, number);
    if (last !== undefined && number !== last + 1) {
      this.#track(this.#resync()).catch((error) => this.#onError("resync", error));
    }
  }

  #fanout(room: string | null, data: string, excludeUser: string | undefined): void {
    const targets = room === null ? this.#connRooms.keys() : this.#rooms.get(room)?.conns;
    if (!targets) return;
    for (const conn of targets) {
      if (conn.user.id === excludeUser) continue;
      conn.send(data);
      this.#deliveries++;
    }
  }
}

function isOpen(kind: RoomKind): boolean {
  return kind === "public" || kind === "announcement";
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

/** Without an account directory, users are those the store has seen connect. */
function storeDirectory(store: Store): UserDirectory {
  const find = async (id: string) => {
    const user = await store.getUser(id);
    return user ? { user, role: "user" as const } : null;
  };
  return {
    get: find,
    byName: () => Promise.resolve(null),
  };
}
