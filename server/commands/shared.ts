/**
 * What every command needs: the parts it acts through, and the checks and lookups that
 * rooms, the timeline and moderation share. A command authorizes here, once, whether a
 * socket, a slash command or the bot API asked for it.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import type {
  Features,
  Member,
  ModerationEvent,
  PushFrame,
  Retention,
  RoomInfo,
} from "../../protocol/messages.ts";
import {
  effectiveRole,
  mayActOn,
  type Permission,
  ROLE_RANK,
  type RoomKind,
  type RoomRole,
  type ServerRole,
} from "../../protocol/permissions.ts";
import { type AccessControl, forbidden, type RoomStanding } from "../access.ts";
import type { Principal } from "../auth/types.ts";
import type { Connection, Fanout } from "../fanout.ts";
import type { FileStore } from "../files/types.ts";
import type { HookRunner } from "../hooks.ts";
import type { Rate, RateLimiter } from "../rate/types.ts";
import type { RoomRecord, Store } from "../store/types.ts";
import { MentionResolver } from "./mentions.ts";

/** Users the server knows, whether or not they are online. */
export interface UserDirectory {
  get(id: string): Promise<{ user: Member; role: ServerRole } | null>;
  byName(name: string): Promise<{ user: Member; role: ServerRole } | null>;
}

/** Per-user budgets, spent in the command layer so sockets, commands and bots share them. */
export interface Budgets {
  messages: Rate;
  guestMessages: Rate;
  /** Messages of bots (API keys), whose requests have a rate of their own too. */
  botMessages: Rate;
  roomCreates: Rate;
  /** Searches (`search`), per user, whoever asks: searching costs the store more than a send. */
  searches: Rate;
}

export interface SharedOptions {
  store: Store;
  access: AccessControl;
  fanout: Fanout;
  directory: UserDirectory;
  hooks: HookRunner | undefined;
  features: Partial<Features>;
  limiter: RateLimiter;
  budgets: Budgets;
  now: () => number;
  recoveryMax: number;
  retention: Retention | undefined;
  /** Uploaded files; without it no message can carry one (file_not_found). */
  files?: FileStore;
}

const UNREAD_CAP = 100;

export class Shared {
  readonly store: Store;
  readonly access: AccessControl;
  readonly fanout: Fanout;
  readonly directory: UserDirectory;
  readonly hooks: HookRunner | undefined;
  readonly features: Partial<Features>;
  readonly now: () => number;
  readonly recoveryMax: number;
  readonly retention: Retention | undefined;
  readonly files: FileStore | undefined;
  /** Resolves `@name`s of new messages, with a short cache shared by every command. */
  readonly mentions: MentionResolver;
  readonly #limiter: RateLimiter;
  readonly #budgets: Budgets;

  constructor(options: SharedOptions) {
    this.store = options.store;
    this.access = options.access;
    this.fanout = options.fanout;
    this.directory = options.directory;
    this.hooks = options.hooks;
    this.features = options.features;
    this.now = options.now;
    this.recoveryMax = options.recoveryMax;
    this.retention = options.retention;
    this.files = options.files;
    this.mentions = new MentionResolver(options.directory, options.now);
    this.#limiter = options.limiter;
    this.#budgets = options.budgets;
  }

  /**
   * Spend one of the caller's budget (messages, room creations or searches), counted per
   * user across the cluster. Synchronous with an in-process limiter; undefined when granted.
   */
  limit(principal: Principal, kind: "message" | "room" | "search"): Promise<void> | undefined {
    const budgets = this.#budgets;
    const rate = kind === "room"
      ? budgets.roomCreates
      : kind === "search"
      ? budgets.searches
      : principal.role === "guest"
      ? budgets.guestMessages
      : principal.via === "apikey"
      ? budgets.botMessages
      : budgets.messages;
    const wait = this.#limiter.take(`${kind}:${principal.user.id}`, rate);
    if (typeof wait === "number") return wait > 0 ? Promise.reject(rateLimited(wait)) : undefined;
    return wait.then((ms) => {
      if (ms > 0) throw rateLimited(ms);
    });
  }

  async record(name: string): Promise<RoomRecord> {
    const record = await this.store.getRoom(name);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    return record;
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
      online: this.fanout.presence.online(record.name),
      receipts: record.receipts,
      ...(record.retention ? { retention: record.retention } : {}),
      ...(record.disabled ? { disabled: true as const } : {}),
    };
  }

  async roomInfoFor(record: RoomRecord, principal: Principal, member: boolean): Promise<RoomInfo> {
    await this.fanout.presence.count([record.name]);
    const info = await this.withPeers(this.roomInfo(record));
    if (!member) return { ...info, member };
    const userId = principal.user.id;
    const names = [principal.user.name.toLowerCase(), "room"];
    const [readSeq, unread, mentions, standing] = await Promise.all([
      this.store.readMarker(record.name, userId),
      this.store.unreadCount(record.name, userId, UNREAD_CAP),
      this.store.unreadMentions(record.name, userId, names, UNREAD_CAP),
      this.access.standing(record, userId, principal.role, true),
    ]);
    const role = effectiveRole(standing) ?? "member";
    return {
      ...info,
      member,
      readSeq,
      unread,
      mentions,
      role,
      ...(standing.mute ? { mutedUntil: standing.mute.until ?? Number.MAX_SAFE_INTEGER } : {}),
    };
  }

  /**
   * Check `permission` (null: only that the room exists and is usable) for the caller.
   * Posting needs a joined connection; a mute refuses it with the time it ends.
   */
  async authorize(
    conn: Connection,
    name: string,
    permission: Permission | null,
  ): Promise<{ record: RoomRecord; standing: RoomStanding }> {
    const posting = permission === "send" || permission === "edit.own" ||
      permission === "delete.own";
    if (posting) this.fanout.requireJoined(conn, name);
    const record = await this.access.room(name);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    this.#refuseDisabled(conn, record, permission);
    const member = this.fanout.isJoined(conn, name) ||
      await this.store.isMember(name, conn.user.id);
    const standing = await this.access.standing(record, conn.user.id, conn.principal.role, member);
    this.#permit(name, permission, standing);
    return { record, standing };
  }

  /**
   * `authorize` without an await, for the hot path: when the room's access is cached and
   * the caller has joined it. Undefined means: take the async path.
   */
  authorizeNow(
    conn: Connection,
    name: string,
    permission: Permission,
  ): { record: RoomRecord; standing: RoomStanding } | undefined {
    if (!this.fanout.isJoined(conn, name)) return undefined;
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
    if (permission === "send" || permission === "edit.own") this.refuseMuted(name, standing);
  }

  /** A muted member may not post (nor add reactions) until the mute ends. */
  refuseMuted(name: string, standing: RoomStanding): void {
    if (standing.mute) {
      const until = standing.mute.until ?? Number.MAX_SAFE_INTEGER;
      throw new ProtocolError(
        "forbidden",
        `You are muted in #${name} until ${new Date(until).toISOString()}.`,
        Math.max(0, until - this.now()),
        "send",
      );
    }
  }

  /** The target of a kick, ban, mute or role change, if the caller outranks them. */
  async actOn(
    conn: Connection,
    record: RoomRecord,
    permission: Permission,
    userId: string,
    grant?: RoomRole,
  ): Promise<{ user: Member; role: ServerRole }> {
    const target = await this.user(userId);
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
  async users(ids: string[]): Promise<Map<string, Member>> {
    const found = await Promise.all(ids.map((id) => this.directory.get(id)));
    return new Map(found.flatMap((f) => (f ? [[f.user.id, f.user] as const] : [])));
  }

  async user(id: string): Promise<{ user: Member; role: ServerRole }> {
    const found = await this.directory.get(id);
    if (!found) throw new ProtocolError("user_not_found", `No user with id "${id}".`);
    return found;
  }

  /** Record a moderation action, show it to the room, and to its target if outside. */
  async moderation(
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
      ts: this.now(),
      ...extra,
    };
    await this.access.log(event);
    const frame: PushFrame = { type: "moderation", event };
    this.fanout.broadcast(record.name, frame);
    if (target && !this.fanout.presentHere(record.name, target.id)) {
      this.fanout.toUser(target.id, frame);
    }
    return event;
  }

  /** A dm room's info with its two users named; other rooms as they are. */
  async withPeers(info: RoomInfo): Promise<RoomInfo> {
    if (info.kind !== "dm") return info;
    const ids = await this.access.peers(info.name) ?? [];
    const users = await this.users(ids);
    return { ...info, peers: ids.flatMap((id) => users.get(id) ?? []) };
  }

  /** Tell those who may see a room that it was created or changed. */
  async announceRoom(record: RoomRecord): Promise<void> {
    const frame: PushFrame = { type: "room", room: this.roomInfo(record) };
    if (isOpen(record.kind) && !record.disabled) {
      this.fanout.broadcast(null, frame);
      return;
    }
    const audience = new Set(await this.store.membersOf(record.name));
    for (const id of await this.access.invited(record.name)) audience.add(id);
    if (record.kind === "dm") {
      const data: PushFrame = { type: "room", room: await this.withPeers(frame.room) };
      for (const id of audience) this.fanout.toUser(id, data);
      return;
    }
    for (const id of audience) this.fanout.toUser(id, frame);
  }

  /** Permissions of a room changed: drop cached copies here and on every instance. */
  accessChanged(room: string): void {
    this.fanout.control({ type: "access", room });
  }

  checkReceipts(receipts: boolean | undefined): void {
    if (receipts && this.features.receipts === false) {
      throw forbidden("room.update", undefined, "Read receipts are switched off on this server.");
    }
  }
}

export function isOpen(kind: RoomKind): boolean {
  return kind === "public" || kind === "announcement";
}

function rateLimited(waitMs: number): ProtocolError {
  return new ProtocolError("rate_limited", undefined, waitMs);
}

/** Without an account directory, users are those the store has seen connect. */
export function storeDirectory(store: Store): UserDirectory {
  return {
    get: async (id) => {
      const user = await store.getUser(id);
      return user ? { user, role: "user" as const } : null;
    },
    byName: () => Promise.resolve(null),
  };
}
