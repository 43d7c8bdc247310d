/**
 * The Hub: the one command layer. Sessions, slash commands, the bot API and applications
 * all act through it, so every action is authorized and rate-limited once, the same way.
 * It is the face of three command groups (rooms, the timeline, moderation) over this
 * process's connections (the Fanout) and the parts every process shares.
 */
import { LIMITS, RATES } from "../protocol/limits.ts";
import type {
  Features,
  Member,
  Message,
  PushFrame,
  ResultOf,
  Retention,
  RoomInfo,
} from "../protocol/messages.ts";
import type { RoomRole } from "../protocol/permissions.ts";
import { ACCESS_TTL_MS, AccessControl } from "./access.ts";
import type { Principal } from "./auth/types.ts";
import type { Bus, BusStatus } from "./bus/types.ts";
import { ModerationCommands } from "./commands/moderation.ts";
import { type JoinOptions, RoomCommands } from "./commands/rooms.ts";
import { type Budgets, Shared, storeDirectory, type UserDirectory } from "./commands/shared.ts";
import {
  type DirectoryRequest,
  type RoomScope,
  SearchCommands,
  type SearchRequest,
} from "./commands/search.ts";
import { type SendExtras, TimelineCommands } from "./commands/timeline.ts";
import { type Connection, Fanout } from "./fanout.ts";
import type { FileStore } from "./files/types.ts";
import type { HookRunner } from "./hooks.ts";
import { MemoryPresenceRegistry } from "./presence/memory.ts";
import type { Presence } from "./presence/types.ts";
import { MemoryRateLimiter } from "./rate/memory.ts";
import type { RateLimiter } from "./rate/types.ts";
import type { NewRoom, RoomPatch, RoomRecord, Store } from "./store/types.ts";

export type {
  Connection,
  DirectoryRequest,
  JoinOptions,
  RoomScope,
  SearchRequest,
  SendExtras,
  UserDirectory,
};

export interface HubOptions {
  store: Store;
  bus: Bus;
  /** Who is in which room, cluster-wide; this instance alone by default. */
  presence?: Presence;
  /** Per-user budgets shared by every instance; this instance's own by default. */
  limiter?: RateLimiter;
  /** The budgets spent from `limiter`; RATES by default. */
  budgets?: Partial<Budgets>;
  /** Whether a connection's credential still holds (checked after missed Bus messages). */
  stillValid?: (principal: Principal) => Promise<boolean>;
  /** How long a seq gap may wait for the Bus before the Store fills it. */
  gapWaitMs?: number;
  /**
   * How long cached permissions live: the bound on a lost Bus message. 2 s over a bus that
   * can lose one (Redis); no expiry over an in-process bus, where every change arrives.
   */
  accessTtlMs?: number;
  /** How often an instance repeats its latest control number, so a lost one is noticed. */
  controlTickMs?: number;
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
  /** Uploaded files, so messages can carry them; without it `send` with a file fails. */
  files?: FileStore;
}

export interface HubStats {
  connections: number;
  activeRooms: number;
  messagesCommitted: number;
  deliveries: number;
}

/** Guests post at a tenth of members' rate, with a fifth of the burst. */
export const GUEST_MESSAGE_RATE = { perSecond: 0.5, burst: 3 };
/** Bots post at their API rate. */
export const BOT_MESSAGE_RATE = { perSecond: 10, burst: 30 };
/** Searches per user (people, guests and bots alike): a page a second, ten at once. */
export const SEARCH_RATE = { perSecond: 1, burst: 10 };

export class Hub {
  readonly store: Store;
  readonly access: AccessControl;
  readonly #fanout: Fanout;
  readonly #rooms: RoomCommands;
  readonly #timeline: TimelineCommands;
  readonly #moderation: ModerationCommands;
  readonly #search: SearchCommands;
  readonly #shared: Shared;
  readonly #roomDeleted = new Set<(room: string) => Promise<void>>();

  constructor(options: HubOptions) {
    const now = options.now ?? Date.now;
    const onError = options.onError ?? (() => {});
    const hooks = options.hooks?.empty ? undefined : options.hooks;
    this.store = options.store;
    const accessTtl = options.accessTtlMs ?? (options.bus.lossy ? ACCESS_TTL_MS : Infinity);
    this.access = new AccessControl(this.store, now, accessTtl);
    this.#fanout = new Fanout({
      store: this.store,
      bus: options.bus,
      access: this.access,
      presence: options.presence ?? new MemoryPresenceRegistry().connect(options.bus.instanceId),
      ...(hooks ? { onPresence: (event) => hooks.onPresence(event) } : {}),
      now,
      typingTtlMs: options.typingTtlMs ?? LIMITS.typingTtlMs,
      typingThrottleMs: options.typingThrottleMs ?? LIMITS.typingThrottleMs,
      roomsPerConnection: options.roomsPerConnection ?? LIMITS.roomsPerConnection,
      ...(options.stillValid ? { stillValid: options.stillValid } : {}),
      ...(options.gapWaitMs === undefined ? {} : { gapWaitMs: options.gapWaitMs }),
      ...(options.controlTickMs === undefined ? {} : { tickMs: options.controlTickMs }),
      onError,
    });
    this.#shared = new Shared({
      store: this.store,
      access: this.access,
      fanout: this.#fanout,
      directory: options.directory ?? storeDirectory(this.store),
      hooks,
      features: options.features ?? {},
      limiter: options.limiter ?? new MemoryRateLimiter(now),
      budgets: {
        messages: RATES.messages,
        guestMessages: GUEST_MESSAGE_RATE,
        botMessages: BOT_MESSAGE_RATE,
        roomCreates: RATES.roomCreates,
        searches: SEARCH_RATE,
        ...options.budgets,
      },
      now,
      recoveryMax: options.recoveryMax ?? LIMITS.recoveryMax,
      retention: options.retention,
      ...(options.files ? { files: options.files } : {}),
    });
    this.#rooms = new RoomCommands(this.#shared);
    this.#timeline = new TimelineCommands(this.#shared);
    this.#moderation = new ModerationCommands(this.#shared);
    this.#search = new SearchCommands(this.#shared);
  }

  // ---- connections ------------------------------------------------------------------------

  /** This hub's id on the bus: one per worker or process. */
  get instanceId(): string {
    return this.#fanout.instanceId;
  }

  /** Register a connection that finished its handshake; it now receives server-wide pushes. */
  connect(conn: Connection): Promise<void> {
    return this.#fanout.connect(conn);
  }

  /** Remove a connection from every room it joined. Safe to call more than once. */
  disconnect(conn: Connection): void {
    this.#fanout.disconnect(conn);
  }

  isJoined(conn: Connection, room: string): boolean {
    return this.#fanout.isJoined(conn, room);
  }

  // ---- rooms --------------------------------------------------------------------------------

  createRoom(conn: Connection, room: Omit<NewRoom, "createdBy">): Promise<ResultOf<"room.create">> {
    return this.#rooms.createRoom(conn, room);
  }

  /** Change a room's title, topic or settings: moderators and up. */
  updateRoom(conn: Connection, name: string, patch: RoomPatch): Promise<ResultOf<"room.update">> {
    return this.#rooms.updateRoom(conn, name, patch);
  }

  /** Delete a room and its history: its owner, or a server admin. */
  async deleteRoom(conn: Connection, name: string): Promise<void> {
    await this.#rooms.deleteRoom(conn, name);
    for (const listener of this.#roomDeleted) await listener(name);
  }

  /**
   * Call `listener` after this instance deletes a room (its uploaded files go with it);
   * the deleter's reply waits for it. Returns the unsubscribe function.
   */
  onRoomDeleted(listener: (room: string) => Promise<void>): () => void {
    this.#roomDeleted.add(listener);
    return () => this.#roomDeleted.delete(listener);
  }

  /** The rooms `principal` may see, with their membership and unread counts; public ones without. */
  listRooms(principal?: Principal): Promise<RoomInfo[]> {
    return this.#rooms.listRooms(principal);
  }

  join(conn: Connection, name: string, options: JoinOptions = {}): Promise<ResultOf<"room.join">> {
    return this.#rooms.join(conn, name, options);
  }

  /** Leave a room: this connection stops receiving it and the user is no longer a member. */
  leave(conn: Connection, name: string): Promise<void> {
    return this.#rooms.leave(conn, name);
  }

  /** The room's members with their roles; moderators also see bans and invitations. */
  members(conn: Connection, name: string): Promise<ResultOf<"room.members">> {
    return this.#rooms.members(conn, name);
  }

  /** Open (or reopen) the direct-message room between the caller and `userId`. */
  openDm(conn: Connection, userId: string): Promise<ResultOf<"dm.open">> {
    return this.#rooms.openDm(conn, userId);
  }

  findUser(name: string): Promise<Member> {
    return this.#rooms.findUser(name);
  }

  /** Switch a room off (or on again); switching off removes everyone from it at once. */
  setRoomDisabled(name: string, disabled: boolean): Promise<RoomInfo> {
    return this.#rooms.setRoomDisabled(name, disabled);
  }

  /** Every room, for admins. */
  allRooms(): Promise<RoomInfo[]> {
    return this.#rooms.allRooms();
  }

  roomInfo(record: RoomRecord): RoomInfo {
    return this.#shared.roomInfo(record);
  }

  // ---- the timeline -------------------------------------------------------------------------

  /**
   * Commit a message and push it to the room. `committed`, if given, is called with the
   * result in the same microtask as the push, so a reply sent from it goes out in the
   * sender's same frame as the message itself. `extras` make it a reply or attach a file
   * (then `text` may be ""); its mentions are resolved from the text.
   */
  send(
    conn: Connection,
    room: string,
    text: string,
    nonce: string,
    committed?: (result: ResultOf<"send">) => void,
    extras?: SendExtras,
  ): Promise<ResultOf<"send">> {
    return this.#timeline.send(conn, room, text, nonce, committed, extras);
  }

  /** Add the caller's reaction to a text message, or take it back (`remove`). */
  react(
    conn: Connection,
    room: string,
    seq: number,
    emoji: string,
    remove = false,
  ): Promise<ResultOf<"react">> {
    return this.#timeline.react(conn, room, seq, emoji, remove);
  }

  /**
   * Messages of the caller's rooms (or of one of them), newest first; `scope` narrows the
   * rooms further (a bot's key).
   */
  search(
    principal: Principal,
    request: SearchRequest,
    scope?: RoomScope,
  ): Promise<ResultOf<"search">> {
    return this.#search.search(principal, request, scope);
  }

  /** Public and announcement rooms with their member counts, biggest first. */
  directory(
    principal: Principal,
    request: DirectoryRequest,
    scope?: RoomScope,
  ): Promise<ResultOf<"room.directory">> {
    return this.#search.directory(principal, request, scope);
  }

  /** Authors may edit their own messages. */
  edit(conn: Connection, room: string, seq: number, text: string): Promise<ResultOf<"edit">> {
    return this.#timeline.edit(conn, room, seq, text);
  }

  /** Authors may delete their own messages, moderators anyone's. */
  delete(conn: Connection, room: string, seq: number): Promise<ResultOf<"delete">> {
    return this.#timeline.delete(conn, room, seq);
  }

  history(
    conn: Connection,
    room: string,
    query: { before?: number; after?: number; limit?: number },
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    return this.#timeline.history(conn, room, query);
  }

  /** Move the caller's read marker; their other devices and, with receipts on, the room hear of it. */
  read(conn: Connection, room: string, seq: number): Promise<ResultOf<"read">> {
    return this.#timeline.read(conn, room, seq);
  }

  typing(conn: Connection, room: string, active: boolean): void {
    this.#timeline.typing(conn, room, active);
  }

  /** Apply retention to every room (its own limits, else the server's). */
  sweep(now?: number): Promise<number> {
    return this.#timeline.sweep(now);
  }

  /**
   * Call `listener` with every entry this instance commits (text, edit, delete, react), after
   * the commit and the broadcast. Listeners must not block: queue the work elsewhere.
   */
  onCommit(listener: (message: Message) => void): () => void {
    return this.#timeline.onCommit(listener);
  }

  // ---- moderation ---------------------------------------------------------------------------

  /** Invite a user to a room; it shows up in their room list at once. */
  invite(conn: Connection, name: string, userId: string): Promise<void> {
    return this.#moderation.invite(conn, name, userId);
  }

  /** Remove a member from the room; they may come back unless it is private. */
  kick(conn: Connection, name: string, userId: string, reason?: string): Promise<void> {
    return this.#moderation.kick(conn, name, userId, reason);
  }

  /** Ban a user from the room, for `minutes` or for ever; a member is removed at once. */
  ban(conn: Connection, name: string, userId: string, minutes?: number, reason?: string) {
    return this.#moderation.ban(conn, name, userId, minutes, reason);
  }

  unban(conn: Connection, name: string, userId: string): Promise<void> {
    return this.#moderation.unban(conn, name, userId);
  }

  /** Mute a member for `minutes`: they stay and read, but may not post. */
  mute(conn: Connection, name: string, userId: string, minutes: number, reason?: string) {
    return this.#moderation.mute(conn, name, userId, minutes, reason);
  }

  unmute(conn: Connection, name: string, userId: string): Promise<void> {
    return this.#moderation.unmute(conn, name, userId);
  }

  /** Give a member a role: never above the actor's own, and only to those ranked below. */
  setRole(conn: Connection, name: string, userId: string, role: RoomRole): Promise<void> {
    return this.#moderation.setRole(conn, name, userId, role);
  }

  modlog(
    conn: Connection,
    name: string,
    before: number | undefined,
    limit?: number,
  ): Promise<ResultOf<"room.modlog">> {
    return this.#moderation.modlog(conn, name, before, limit);
  }

  /** Close a user's sockets on every instance: all of them, or those of one session. */
  closeUser(userId: string, code: number, reason: string, session?: string): void {
    this.#moderation.closeUser(userId, code, reason, session);
  }

  // ---- pushes and the instance --------------------------------------------------------------

  /** Serialize once; deliver locally and to every other instance. */
  broadcast(room: string | null, frame: PushFrame, excludeUser?: string): void {
    this.#fanout.broadcast(room, frame, excludeUser);
  }

  /** A `custom` push from an application's frame handler: to a room, or to one user. */
  pushCustom(to: { room: string } | { userId: string }, name: string, data: unknown): void {
    if (!/^x\.[a-z0-9_.-]{1,60}$/.test(name)) {
      throw new Error(`custom push name "${name}" must look like "x.app.event"`);
    }
    if ("room" in to) {
      this.#fanout.broadcast(to.room, { type: "custom", name, room: to.room, data });
    } else this.#fanout.toUser(to.userId, { type: "custom", name, data });
  }

  /** Whether the Store answers and the Bus is linked (see Fanout.readiness). */
  readiness(): Promise<{ ok: boolean; store: "up" | "down"; bus: BusStatus }> {
    return this.#fanout.readiness();
  }

  stats(): HubStats {
    const fanout = this.#fanout;
    return {
      connections: fanout.connections,
      activeRooms: fanout.activeRooms,
      messagesCommitted: fanout.messagesCommitted,
      deliveries: fanout.deliveries,
    };
  }

  /** Close every connection (e.g. on shutdown) and stop listening to the bus. */
  close(code: number, reason: string): void {
    this.#fanout.close(code, reason);
  }

  /** Settles once the presence writes and resyncs under way have finished. */
  settled(): Promise<void> {
    return this.#fanout.settled();
  }
}
