/**
 * This process's connections and nothing else, as Centrifuge's Hub: who is joined to
 * which room here, fan-out to them, and the Bus both ways. A broadcast is serialized
 * once; the same string goes to every local recipient and, through the Bus, to every
 * other instance. Stream entries keep seq order through the Sequencer; controls keep
 * permissions in step; whatever may have been missed is resynced from the Store.
 */
import { CLOSE_CODES, ProtocolError } from "../protocol/errors.ts";
import type { Member, Message, PushFrame } from "../protocol/messages.ts";
import type { AccessControl } from "./access.ts";
import type { Principal } from "./auth/types.ts";
import type { Bus, BusEnvelope, BusStatus, HubControl } from "./bus/types.ts";
import type { PresenceEvent } from "./hooks.ts";
import { PRESENCE_PREFIX, PresenceTracker } from "./presence_tracker.ts";
import type { Presence } from "./presence/types.ts";
import { Sequencer } from "./sequencer.ts";
import type { Store } from "./store/types.ts";

/** One client connection as the hub sees it; the WebSocket adapter implements it. */
export interface Connection {
  readonly id: string;
  readonly user: Member;
  /** Who this is and how they signed in; the hub authorizes every action against it. */
  readonly principal: Principal;
  /** Queue one serialized frame; the adapter may coalesce several into one WebSocket message. */
  send(data: string): void;
  close(code: number, reason: string): void;
  /** Settles once every frame queued has been written to the network (or the peer left). */
  flushed?(): Promise<void>;
}

interface LocalRoom {
  readonly conns: Set<Connection>;
  /** Users present through one or more connections here (per-device merge). */
  readonly users: Map<string, { member: Member; conns: number }>;
  /** userId -> time its typing indicator expires. */
  readonly typing: Map<string, number>;
  /** Settles once the Bus delivers the room here and its stream position is known. */
  readonly followed: Promise<void>;
}

export interface FanoutOptions {
  store: Store;
  bus: Bus;
  access: AccessControl;
  presence: Presence;
  onPresence?: (event: PresenceEvent) => void;
  now: () => number;
  typingTtlMs: number;
  typingThrottleMs: number;
  roomsPerConnection: number;
  /** Whether a connection's credential still holds (checked after missed Bus messages). */
  stillValid?: (principal: Principal) => Promise<boolean>;
  gapWaitMs?: number;
  /** How often an instance that sent controls repeats its latest number (5 s). */
  tickMs?: number;
  onError: (what: string, error: unknown) => void;
}

/** While the Bus is down, how often followed rooms are read from the Store. */
const POLL_WHILE_DOWN_MS = 1_000;
/** How often an instance that sent controls repeats its latest number. */
const TICK_MS = 5_000;
/** How long /readyz waits for the Store before calling it down. */
const READY_PROBE_MS = 2_000;

export class Fanout {
  readonly #o: FanoutOptions;
  readonly #rooms = new Map<string, LocalRoom>();
  readonly #connRooms = new Map<Connection, Set<string>>();
  readonly #userConns = new Map<string, Set<Connection>>();
  readonly presence: PresenceTracker;
  readonly #sequencer: Sequencer;
  /** Users whose current name this instance has written to the store. */
  readonly #storedNames = new Map<string, string>();
  /** Controls published by this instance, numbered so receivers notice a lost one. */
  #controlsSent = 0;
  /** origin -> number of the last control heard from it. */
  readonly #controlsHeard = new Map<string, number>();
  /** A publish failed: the other instances must resync once the Bus is back. */
  #publishFailed = false;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #tickTimer: ReturnType<typeof setInterval> | undefined;
  readonly #unsubscribe: () => void;
  readonly #stopStatus: () => void;
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;
  messagesCommitted = 0;
  deliveries = 0;

  constructor(options: FanoutOptions) {
    this.#o = options;
    this.presence = new PresenceTracker({
      presence: options.presence,
      broadcast: (room, frame, exclude) => this.broadcast(room, frame, exclude),
      ...(options.onPresence ? { onPresence: options.onPresence } : {}),
      localUsers: (room) => [...this.#rooms.get(room)?.users.values() ?? []].map((u) => u.member),
      rooms: () => [...this.#rooms.keys()],
      onError: options.onError,
    });
    this.#sequencer = new Sequencer({
      store: options.store,
      deliver: (room, data) => this.#deliver(room, data, undefined),
      ...(options.gapWaitMs === undefined ? {} : { gapWaitMs: options.gapWaitMs }),
      onError: (error) => options.onError("gap repair", error),
    });
    this.#unsubscribe = options.bus.subscribe((envelope) => this.#fromBus(envelope));
    this.#stopStatus = options.bus.onStatus((status) => this.#busStatus(status));
  }

  get instanceId(): string {
    return this.#o.bus.instanceId;
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
      await this.#o.store.putUser(conn.user);
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

  isJoined(conn: Connection, room: string): boolean {
    return this.#connRooms.get(conn)?.has(room) ?? false;
  }

  /** The rooms a connection joined; undefined before its hello. */
  joined(conn: Connection): ReadonlySet<string> | undefined {
    return this.#connRooms.get(conn);
  }

  requireJoined(conn: Connection, room: string): void {
    if (!this.#connRooms.get(conn)?.has(room)) {
      throw new ProtocolError("not_joined", `Join room "${room}" first.`);
    }
  }

  /** Whether the user has a connection in the room on this instance. */
  presentHere(room: string, userId: string): boolean {
    return this.#rooms.get(room)?.users.has(userId) ?? false;
  }

  /**
   * Join a connection to a room here, before its history is read, so no entry falls
   * between the replay and live pushes (the client drops the overlap by seq). Settles once
   * the room is followed and the presence entry written.
   */
  async enter(conn: Connection, room: string): Promise<void> {
    const rooms = this.#connRooms.get(conn);
    if (!rooms) throw new ProtocolError("hello_required");
    let present: Promise<void> | undefined;
    if (!rooms.has(room)) {
      if (rooms.size >= this.#o.roomsPerConnection) throw new ProtocolError("too_many_rooms");
      present = this.#addToRoom(conn, room);
      rooms.add(room);
    }
    await this.#rooms.get(room)?.followed;
    await present;
  }

  /** Take a connection out of a room here. */
  exit(conn: Connection, room: string): void {
    if (!this.#connRooms.get(conn)?.delete(room)) {
      throw new ProtocolError("not_joined", `Not in room "${room}".`);
    }
    this.#removeFromRoom(conn, room);
  }

  /** Typing indicators are throttled here too, so a chatty client cannot flood the room. */
  typing(conn: Connection, room: string, active: boolean): void {
    this.requireJoined(conn, room);
    const local = this.#rooms.get(room)!;
    const userId = conn.user.id;
    if (active) {
      const now = this.#o.now();
      const expires = local.typing.get(userId);
      local.typing.set(userId, now + this.#o.typingTtlMs);
      if (expires !== undefined && expires - now > this.#o.typingTtlMs - this.#o.typingThrottleMs) {
        return;
      }
    } else if (!local.typing.delete(userId)) {
      return;
    }
    this.broadcast(room, { type: "typing", room, user: conn.user, active }, userId);
  }

  /** The user posted: their typing indicator is over without a frame of its own. */
  stoppedTyping(room: string, userId: string): void {
    this.#rooms.get(room)?.typing.delete(userId);
  }

  /** A committed stream entry: to local connections in seq order, and to every instance. */
  committed(message: Message): void {
    this.messagesCommitted++;
    const { room, seq } = message;
    const data = JSON.stringify({ type: "message", message } satisfies PushFrame);
    this.#sequencer.offer(room, seq, data);
    this.#publish({ room, data, seq });
  }

  /** Serialize once; deliver locally and to every other instance. */
  broadcast(room: string | null, frame: PushFrame, excludeUser?: string): void {
    const data = JSON.stringify(frame);
    this.#deliver(room, data, excludeUser);
    this.#publish(excludeUser === undefined ? { room, data } : { room, data, excludeUser });
  }

  /** A push for one user's connections on every instance, except `skip`. */
  toUser(userId: string, frame: PushFrame, skip?: Connection): void {
    const data = JSON.stringify(frame);
    for (const conn of this.#userConns.get(userId) ?? []) if (conn !== skip) conn.send(data);
    this.#publish({ room: null, data, toUser: userId });
  }

  /** Apply a control here and on every other instance. */
  control(control: HubControl): void {
    this.#applyControl(control);
    this.#publish({ room: null, data: "", control, controlSeq: ++this.#controlsSent });
    // A control lost with nothing after it would go unnoticed: repeat the latest number.
    if (this.#tickTimer === undefined && !this.#closed) {
      this.#tickTimer = setInterval(() => {
        const control: HubControl = { type: "tick" };
        this.#publish({ room: null, data: "", control, controlSeq: this.#controlsSent });
      }, this.#o.tickMs ?? TICK_MS);
    }
  }

  /**
   * Whether this instance can do its whole job: its Store answers and its Bus is linked.
   * With the Bus down it still commits and serves, but other instances' messages reach
   * its clients only by polling the Store: "degraded".
   */
  async readiness(): Promise<{ ok: boolean; store: "up" | "down"; bus: BusStatus }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const store = await Promise.race([
      this.#o.store.getRoom("readyz-probe").then(() => "up" as const, () => "down" as const),
      new Promise<"down">((resolve) => timer = setTimeout(() => resolve("down"), READY_PROBE_MS)),
    ]);
    clearTimeout(timer);
    const bus = this.#o.bus.status;
    return { ok: store === "up" && bus === "up", store, bus };
  }

  get connections(): number {
    return this.#connRooms.size;
  }

  get activeRooms(): number {
    return this.#rooms.size;
  }

  /** Close every connection (e.g. on shutdown) and stop listening to the bus. */
  close(code: number, reason: string): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#stopStatus();
    clearInterval(this.#pollTimer);
    clearInterval(this.#tickTimer);
    for (const conn of [...this.#connRooms.keys()]) {
      this.disconnect(conn);
      conn.close(code, reason);
    }
    this.presence.stop();
    this.#sequencer.closeAll();
  }

  /** Settles once the presence writes and resyncs under way have finished. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

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
    return this.#track(this.presence.add(name, conn.user, conn.id));
  }

  #removeFromRoom(conn: Connection, name: string): void {
    const local = this.#rooms.get(name);
    if (!local?.conns.delete(conn)) return;
    const present = local.users.get(conn.user.id);
    if (present && --present.conns === 0) {
      local.users.delete(conn.user.id);
      local.typing.delete(conn.user.id);
    }
    this.#track(this.presence.remove(name, conn.user, conn.id));
    if (local.conns.size === 0) {
      this.#rooms.delete(name);
      this.#sequencer.close(name);
      this.presence.forget(name);
      this.#o.bus.unwatch(name).catch((error) => this.#o.onError("unwatch", error));
    }
  }

  /** Receive the room over the Bus, and place its stream where the Store has it now. */
  async #follow(room: string): Promise<void> {
    try {
      await this.#o.bus.watch(room);
    } catch (error) {
      // The room still works here; other instances' entries arrive by catch-up.
      this.#o.onError("follow", error);
    }
    if (!this.#rooms.has(room) || this.#sequencer.following(room)) return;
    const record = await this.#o.store.getRoom(room);
    this.#sequencer.open(room, record?.lastSeq ?? 0);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    promise.finally(() => this.#pending.delete(promise));
    return promise;
  }

  /** Publish to the other instances; a failure makes them resync once the Bus is back. */
  #publish(envelope: Omit<BusEnvelope, "origin">): void {
    if (this.#o.bus.status === "down") {
      this.#publishFailed = true;
      return;
    }
    const pending = this.#o.bus.publish(envelope);
    pending?.catch((error) => {
      this.#publishFailed = true;
      this.#o.onError("bus publish", error);
    });
  }

  #busStatus(status: BusStatus): void {
    if (this.#closed) return;
    if (status === "down") {
      // Until the Bus is back, other instances' entries reach this one from the Store.
      this.#pollTimer ??= setInterval(() => {
        this.#sequencer.catchUpAll().catch((error) => this.#o.onError("catch-up", error));
      }, POLL_WHILE_DOWN_MS);
      return;
    }
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    if (this.#publishFailed) {
      this.#publishFailed = false;
      this.control({ type: "resync" });
    }
    this.#resyncSoon();
  }

  #resyncSoon(): void {
    this.#track(this.#resync()).catch((error) => this.#o.onError("resync", error));
  }

  /**
   * After Bus messages may have been lost: reload permissions, take every local
   * connection out of rooms it may no longer be in (or off a revoked session), write this
   * instance's presence again, and catch every followed room up from the Store.
   */
  async #resync(): Promise<void> {
    this.#o.access.invalidateAll();
    for (const [conn, rooms] of [...this.#connRooms]) {
      if (this.#o.stillValid && !(await this.#o.stillValid(conn.principal))) {
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
      for (const conn of local.conns) await this.presence.rewrite(room, conn.user, conn.id);
    }
    await this.#sequencer.catchUpAll();
  }

  /** Why `conn` may no longer be in `room`, or null when it may. */
  async #stillIn(
    conn: Connection,
    room: string,
  ): Promise<"deleted" | "disabled" | "banned" | "kicked" | null> {
    const access = this.#o.access;
    const record = await access.room(room);
    if (!record) return "deleted";
    if (record.disabled) return "disabled";
    const member = await this.#o.store.isMember(room, conn.user.id);
    const standing = await access.standing(record, conn.user.id, conn.principal.role, member);
    if (standing.ban) return "banned";
    return member ? null : "kicked";
  }

  #applyControl(control: HubControl): void {
    switch (control.type) {
      case "resync":
        this.#resyncSoon();
        return;
      case "tick":
        return;
      case "access":
        this.#o.access.invalidate(control.room);
        return;
      case "remove": {
        const removed = JSON.stringify(
          { type: "room.removed", room: control.room, reason: control.reason } satisfies PushFrame,
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

  #fromBus(envelope: BusEnvelope): void {
    if (envelope.origin === this.#o.bus.instanceId) return;
    if (envelope.control) {
      this.#applyControl(envelope.control);
      this.#heardControl(envelope.origin, envelope.controlSeq, envelope.control.type === "tick");
      return;
    }
    if (envelope.seq !== undefined && envelope.room !== null) {
      this.#sequencer.offer(envelope.room, envelope.seq, envelope.data);
      return;
    }
    if (envelope.room !== null && envelope.data.startsWith(PRESENCE_PREFIX)) {
      this.presence.heard(envelope.room, envelope.data);
    }
    if (envelope.toUser !== undefined) {
      for (const conn of this.#userConns.get(envelope.toUser) ?? []) conn.send(envelope.data);
      return;
    }
    this.#deliver(envelope.room, envelope.data, envelope.excludeUser);
  }

  /**
   * A control numbered past the next one expected from its origin, or a tick past the
   * last one heard, means one was lost.
   */
  #heardControl(origin: string, number: number | undefined, tick: boolean): void {
    if (number === undefined) return;
    const last = this.#controlsHeard.get(origin);
    if (this.#controlsHeard.size >= 10_000 && last === undefined) this.#controlsHeard.clear();
    this.#controlsHeard.set(origin, Math.max(number, last ?? 0));
    if (last === undefined) return;
    if (tick ? number > last : number !== last + 1) this.#resyncSoon();
  }

  #deliver(room: string | null, data: string, excludeUser: string | undefined): void {
    const targets = room === null ? this.#connRooms.keys() : this.#rooms.get(room)?.conns;
    if (!targets) return;
    for (const conn of targets) {
      if (conn.user.id === excludeUser) continue;
      conn.send(data);
      this.deliveries++;
    }
  }
}
