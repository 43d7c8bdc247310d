/**
 * The Hub: rooms, membership, presence and typing for this instance's connections,
 * and fan-out. Each broadcast is serialized once; the same string goes to every local
 * recipient and, through the Bus, to every other instance.
 */
import { ProtocolError } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type {
  Member,
  Message,
  PushFrame,
  ResultOf,
  Retention,
  RoomInfo,
} from "../protocol/messages.ts";
import type { Bus, BusEnvelope } from "./bus/types.ts";
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
}

export interface HubOptions {
  store: Store;
  bus: Bus;
  now?: () => number;
  typingTtlMs?: number;
  typingThrottleMs?: number;
  roomsPerConnection?: number;
  /** Most entries replayed on a recovering join before the client is told to reload. */
  recoveryMax?: number;
  /** Server-wide retention for rooms without their own. */
  retention?: Retention;
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
  #messagesCommitted = 0;
  #deliveries = 0;

  constructor(options: HubOptions) {
    this.store = options.store;
    this.#bus = options.bus;
    this.#now = options.now ?? Date.now;
    this.#typingTtlMs = options.typingTtlMs ?? LIMITS.typingTtlMs;
    this.#typingThrottleMs = options.typingThrottleMs ?? LIMITS.typingThrottleMs;
    this.#roomsPerConnection = options.roomsPerConnection ?? LIMITS.roomsPerConnection;
    this.#recoveryMax = options.recoveryMax ?? LIMITS.recoveryMax;
    this.#retention = options.retention;
    this.#unsubscribe = this.#bus.subscribe((envelope) => this.#fromBus(envelope));
  }

  /** Register a connection that finished its handshake; it now receives server-wide pushes. */
  async connect(conn: Connection): Promise<void> {
    if (this.#connRooms.has(conn)) return;
    this.#connRooms.set(conn, new Set());
    let mine = this.#userConns.get(conn.user.id);
    if (!mine) this.#userConns.set(conn.user.id, mine = new Set());
    mine.add(conn);
    await this.store.putUser(conn.user);
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
    const record = await this.store.createRoom({ ...room, createdBy: conn.user.id });
    if (!record) throw new ProtocolError("room_exists", `Room "${room.name}" already exists.`);
    const info = this.roomInfo(record);
    this.broadcast(null, { type: "room", room: info });
    return { room: info };
  }

  /** Change a room's settings; only its creator may. */
  async updateRoom(
    conn: Connection,
    name: string,
    patch: RoomPatch,
  ): Promise<ResultOf<"room.update">> {
    const record = await this.#record(name);
    if (record.createdBy !== conn.user.id) {
      throw new ProtocolError("forbidden", "Only the room's creator can change its settings.");
    }
    const updated = (await this.store.updateRoom(name, patch))!;
    const info = this.roomInfo(updated);
    this.broadcast(null, { type: "room", room: info });
    return { room: info };
  }

  /** Every room, with the caller's membership and unread count. */
  async listRooms(user?: Member): Promise<RoomInfo[]> {
    const records = (await this.store.listRooms()).sort((a, b) => a.name.localeCompare(b.name));
    if (!user) return records.map((r) => this.roomInfo(r));
    const member = new Set(await this.store.roomsOf(user.id));
    return await Promise.all(records.map((r) => this.#roomInfoFor(r, user, member.has(r.name))));
  }

  async join(
    conn: Connection,
    name: string,
    options: JoinOptions = {},
  ): Promise<ResultOf<"room.join">> {
    const record = await this.#record(name);
    const rooms = this.#connRooms.get(conn);
    if (!rooms) throw new ProtocolError("hello_required");
    if (!rooms.has(name)) {
      if (rooms.size >= this.#roomsPerConnection) throw new ProtocolError("too_many_rooms");
      // Join before reading history, so no entry falls between the replay and live pushes;
      // the client drops the overlap by seq.
      this.#addToRoom(conn, name);
      rooms.add(name);
    }
    await this.store.addMember(name, conn.user.id);
    const latest = () =>
      this.store.history(name, { limit: options.limit ?? LIMITS.historyPageDefault });
    const replay = options.after === undefined ? null : await this.#replay(record, options);
    const recovered = options.after === undefined ? undefined : replay !== null;
    const page = replay ?? await latest();
    const local = this.#rooms.get(name);
    const presence = local ? [...local.users.values()].map((u) => u.member) : [];
    // The record was read before the page; the page may already hold newer entries.
    const lastSeq = Math.max(record.lastSeq, page.messages.at(-1)?.seq ?? 0);
    return {
      room: await this.#roomInfoFor({ ...record, lastSeq }, conn.user, true),
      messages: page.messages,
      hasMore: page.hasMore,
      presence,
      ...(recovered === undefined ? {} : { recovered }),
      ...(record.receipts ? { receipts: await this.#receipts(name) } : {}),
    };
  }

  /** Leave a room: this connection stops receiving it and the user is no longer a member. */
  async leave(conn: Connection, name: string): Promise<void> {
    const rooms = this.#connRooms.get(conn);
    if (!rooms?.delete(name)) throw new ProtocolError("not_joined", `Not in room "${name}".`);
    this.#removeFromRoom(conn, name);
    await this.store.removeMember(name, conn.user.id);
  }

  async send(
    conn: Connection,
    room: string,
    text: string,
    nonce: string,
  ): Promise<ResultOf<"send">> {
    this.#requireJoined(conn, room);
    const result = await this.#append({ kind: "text", room, author: conn.user, text, nonce });
    if (!result.duplicate) this.#rooms.get(room)?.typing.delete(conn.user.id);
    return result;
  }

  /** Authors may edit their own messages. */
  async edit(conn: Connection, room: string, seq: number, text: string): Promise<ResultOf<"edit">> {
    this.#requireJoined(conn, room);
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

  /** Authors may delete their own messages, the room's creator anyone's. */
  async delete(conn: Connection, room: string, seq: number): Promise<ResultOf<"delete">> {
    this.#requireJoined(conn, room);
    const record = await this.#record(room);
    const guard: EntryGuard = (target) => {
      if (target.author.id !== conn.user.id && record.createdBy !== conn.user.id) {
        throw new ProtocolError(
          "forbidden",
          "Only the author or the room's creator can delete a message.",
        );
      }
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
    const record = await this.#record(room);
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
    this.#bus.publish(excludeUser === undefined ? { room, data } : { room, data, excludeUser });
  }

  roomInfo(record: RoomRecord): RoomInfo {
    return {
      name: record.name,
      topic: record.topic,
      createdAt: record.createdAt,
      createdBy: record.createdBy,
      lastSeq: record.lastSeq,
      online: this.#rooms.get(record.name)?.users.size ?? 0,
      receipts: record.receipts,
      ...(record.retention ? { retention: record.retention } : {}),
    };
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
    this.#unsubscribe();
    for (const conn of [...this.#connRooms.keys()]) {
      this.disconnect(conn);
      conn.close(code, reason);
    }
  }

  /** Commit an entry and push it to the room. */
  async #append(draft: EntryDraft, guard?: EntryGuard): Promise<ResultOf<"send">> {
    const result = await this.store.append(draft, guard);
    if (!result.duplicate) {
      this.#messagesCommitted++;
      this.broadcast(draft.room, { type: "message", message: result.message });
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

  async #roomInfoFor(record: RoomRecord, user: Member, member: boolean): Promise<RoomInfo> {
    const info = this.roomInfo(record);
    if (!member) return { ...info, member };
    const [readSeq, unread] = await Promise.all([
      this.store.readMarker(record.name, user.id),
      this.store.unreadCount(record.name, user.id, UNREAD_CAP),
    ]);
    return { ...info, member, readSeq, unread };
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

  #addToRoom(conn: Connection, name: string): void {
    let local = this.#rooms.get(name);
    if (!local) {
      local = { conns: new Set(), users: new Map(), typing: new Map() };
      this.#rooms.set(name, local);
    }
    const present = local.users.get(conn.user.id);
    if (present) {
      present.conns++;
    } else {
      // Tell the others before adding the newcomer: its snapshot comes in the join reply.
      this.broadcast(name, { type: "presence", room: name, joins: [conn.user], leaves: [] });
      local.users.set(conn.user.id, { member: conn.user, conns: 1 });
    }
    local.conns.add(conn);
  }

  #removeFromRoom(conn: Connection, name: string): void {
    const local = this.#rooms.get(name);
    if (!local?.conns.delete(conn)) return;
    const present = local.users.get(conn.user.id);
    if (present && --present.conns === 0) {
      local.users.delete(conn.user.id);
      local.typing.delete(conn.user.id);
      this.broadcast(name, { type: "presence", room: name, joins: [], leaves: [conn.user] });
    }
    if (local.conns.size === 0) this.#rooms.delete(name);
  }

  /** A push for one user's connections on every instance, except `skip`. */
  #toUser(userId: string, frame: PushFrame, skip?: Connection): void {
    const data = JSON.stringify(frame);
    for (const conn of this.#userConns.get(userId) ?? []) if (conn !== skip) conn.send(data);
    this.#bus.publish({ room: null, data, toUser: userId });
  }

  #fromBus(envelope: BusEnvelope): void {
    if (envelope.origin === this.#bus.instanceId) return;
    if (envelope.toUser !== undefined) {
      for (const conn of this.#userConns.get(envelope.toUser) ?? []) conn.send(envelope.data);
      return;
    }
    this.#fanout(envelope.room, envelope.data, envelope.excludeUser);
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
