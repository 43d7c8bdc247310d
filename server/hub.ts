/**
 * The Hub: rooms, membership, presence and typing for this instance's connections,
 * and fan-out. Each broadcast is serialized once; the same string goes to every local
 * recipient and, through the Bus, to every other instance.
 */
import { ProtocolError } from "../protocol/errors.ts";
import { LIMITS } from "../protocol/limits.ts";
import type { Member, Message, PushFrame, ResultOf, RoomInfo } from "../protocol/messages.ts";
import type { Bus, BusEnvelope } from "./bus/types.ts";
import type { RoomRecord, Store } from "./store/types.ts";

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
}

export interface HubStats {
  connections: number;
  activeRooms: number;
  messagesCommitted: number;
  deliveries: number;
}

export class Hub {
  readonly store: Store;
  readonly #bus: Bus;
  readonly #now: () => number;
  readonly #typingTtlMs: number;
  readonly #typingThrottleMs: number;
  readonly #roomsPerConnection: number;
  readonly #rooms = new Map<string, LocalRoom>();
  readonly #connRooms = new Map<Connection, Set<string>>();
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
    this.#unsubscribe = this.#bus.subscribe((envelope) => this.#fromBus(envelope));
  }

  /** Register a connection that finished its handshake; it now receives server-wide pushes. */
  connect(conn: Connection): void {
    if (!this.#connRooms.has(conn)) this.#connRooms.set(conn, new Set());
  }

  /** Remove a connection from every room it joined. Safe to call more than once. */
  disconnect(conn: Connection): void {
    const rooms = this.#connRooms.get(conn);
    if (!rooms) return;
    for (const room of rooms) this.#removeFromRoom(conn, room);
    this.#connRooms.delete(conn);
  }

  isJoined(conn: Connection, room: string): boolean {
    return this.#connRooms.get(conn)?.has(room) ?? false;
  }

  roomsOf(conn: Connection): ReadonlySet<string> {
    return this.#connRooms.get(conn) ?? new Set();
  }

  async createRoom(
    conn: Connection,
    name: string,
    topic: string,
  ): Promise<ResultOf<"room.create">> {
    const record = await this.store.createRoom({ name, topic, createdBy: conn.user.id });
    if (!record) throw new ProtocolError("room_exists", `Room "${name}" already exists.`);
    const room = this.roomInfo(record);
    this.broadcast(null, { type: "room", room });
    return { room };
  }

  async listRooms(): Promise<RoomInfo[]> {
    const records = await this.store.listRooms();
    return records.sort((a, b) => a.name.localeCompare(b.name)).map((r) => this.roomInfo(r));
  }

  async join(conn: Connection, name: string, limit?: number): Promise<ResultOf<"room.join">> {
    const record = await this.store.getRoom(name);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    const rooms = this.#connRooms.get(conn);
    if (!rooms) throw new ProtocolError("hello_required");
    if (!rooms.has(name)) {
      if (rooms.size >= this.#roomsPerConnection) throw new ProtocolError("too_many_rooms");
      // Join before reading history, so no message falls between the page and live pushes;
      // the client drops the duplicates by seq.
      this.#addToRoom(conn, name);
      rooms.add(name);
    }
    const page = await this.store.history(name, {
      limit: limit ?? LIMITS.historyPageDefault,
    });
    const local = this.#rooms.get(name);
    const presence = local ? [...local.users.values()].map((u) => u.member) : [];
    return {
      room: this.roomInfo(record),
      messages: page.messages,
      hasMore: page.hasMore,
      presence,
    };
  }

  leave(conn: Connection, name: string): void {
    const rooms = this.#connRooms.get(conn);
    if (!rooms?.delete(name)) throw new ProtocolError("not_joined", `Not in room "${name}".`);
    this.#removeFromRoom(conn, name);
  }

  async send(
    conn: Connection,
    room: string,
    text: string,
    nonce: string,
  ): Promise<ResultOf<"send">> {
    this.#requireJoined(conn, room);
    const result = await this.store.append({ room, author: conn.user, text, nonce });
    if (!result.duplicate) {
      this.#messagesCommitted++;
      this.#rooms.get(room)?.typing.delete(conn.user.id);
      this.broadcast(room, { type: "message", message: result.message });
    }
    return result;
  }

  async history(
    conn: Connection,
    room: string,
    before: number | undefined,
    limit: number | undefined,
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    this.#requireJoined(conn, room);
    const query = { limit: limit ?? LIMITS.historyPageDefault };
    return await this.store.history(room, before === undefined ? query : { ...query, before });
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
      lastSeq: record.lastSeq,
      online: this.#rooms.get(record.name)?.users.size ?? 0,
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

  #fromBus(envelope: BusEnvelope): void {
    if (envelope.origin === this.#bus.instanceId) return;
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
