/**
 * Per-room permission state (roles, invitations, bans, mutes, dm peers) and the moderation
 * log, kept in the Store's repositories and cached per instance. Every change goes through
 * the Hub, which drops the cache here and on every other instance over the Bus.
 */
import { ProtocolError } from "../protocol/errors.ts";
import type { ModerationEvent } from "../protocol/messages.ts";
import {
  allowed,
  type Permission,
  PERMISSION_TEXT,
  type RoomRole,
  type ServerRole,
  type Standing,
} from "../protocol/permissions.ts";
import type { Restriction, RoomAccessState } from "./store/repositories.ts";
import type { RoomRecord, Store } from "./store/types.ts";

export type { Restriction };

interface RoomAccess extends RoomAccessState {
  /** When it was read: past `ttlMs` it is read again, whatever the Bus said. */
  loadedAt: number;
  /** The room as last read; its `lastSeq` is stale, the rest current (changes invalidate). */
  record: RoomRecord | null;
}

const CACHE_ROOMS = 10_000;
/** The longest a change made on another instance can go unseen here if its Bus message is lost. */
export const ACCESS_TTL_MS = 2_000;

/** Where a user stands in a room, with any ban or mute in force. */
export type RoomStanding = Standing & { ban?: Restriction; mute?: Restriction };

function live(r: Restriction | undefined, now: number): Restriction | undefined {
  return r && (r.until === null || r.until > now) ? r : undefined;
}

export class AccessControl {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #cache = new Map<string, Promise<RoomAccess>>();
  /** The same rooms once loaded, so the send path can check without an await. */
  readonly #ready = new Map<string, RoomAccess>();

  readonly #ttlMs: number;

  constructor(store: Store, now: () => number, ttlMs: number = ACCESS_TTL_MS) {
    this.#store = store;
    this.#now = now;
    this.#ttlMs = ttlMs;
  }

  /**
   * The room's settings (kind, disabled, receipts) without a store read per frame: every
   * change to them goes through the hub, which invalidates this cache everywhere.
   * `lastSeq` in it is stale; read the store where it matters.
   */
  async room(name: string): Promise<RoomRecord | null> {
    return (await this.#load(name)).record;
  }

  invalidate(room: string): void {
    this.#cache.delete(room);
    this.#ready.delete(room);
  }

  /** Drop every cached room: after this instance may have missed changes. */
  invalidateAll(): void {
    this.#cache.clear();
    this.#ready.clear();
  }

  #fresh(access: RoomAccess): boolean {
    return this.#now() - access.loadedAt < this.#ttlMs;
  }

  async #load(room: string): Promise<RoomAccess> {
    let found = this.#cache.get(room);
    const ready = this.#ready.get(room);
    if (found && ready && !this.#fresh(ready)) {
      this.invalidate(room);
      found = undefined;
    }
    if (!found) {
      if (this.#cache.size >= CACHE_ROOMS) this.invalidate(this.#cache.keys().next().value!);
      const loading = found = this.#read(room);
      this.#cache.set(room, loading);
      loading.then(
        // Only if nothing invalidated it meanwhile.
        (access) => this.#cache.get(room) === loading && this.#ready.set(room, access),
        () => this.#cache.delete(room),
      );
    }
    return await found;
  }

  async #read(room: string): Promise<RoomAccess> {
    const loadedAt = this.#now();
    const [record, state] = await Promise.all([
      this.#store.getRoom(room),
      this.#store.access.load(room),
    ]);
    return { ...state, loadedAt, record };
  }

  /** Where `userId` stands in `record`; `member` says whether they belong to the room. */
  async standing(
    record: RoomRecord,
    userId: string,
    server: ServerRole,
    member: boolean,
  ): Promise<RoomStanding> {
    return this.#standing(await this.#load(record.name), record, userId, server, member);
  }

  /**
   * `standing` without an await, for a room already loaded and a caller known to be a
   * member; undefined when the room must be read first.
   */
  standingNow(
    name: string,
    userId: string,
    server: ServerRole,
  ): { record: RoomRecord | null; standing: RoomStanding | undefined } | undefined {
    const access = this.#ready.get(name);
    if (!access || !this.#fresh(access)) return undefined;
    const { record } = access;
    return {
      record,
      standing: record ? this.#standing(access, record, userId, server, true) : undefined,
    };
  }

  #standing(
    access: RoomAccess,
    record: RoomRecord,
    userId: string,
    server: ServerRole,
    member: boolean,
  ): RoomStanding {
    const now = this.#now();
    const standing: RoomStanding = {
      server,
      kind: record.kind,
      room: member ? access.roles.get(userId) ?? "member" : null,
      invited: access.invited.has(userId),
      peer: access.peers?.includes(userId) ?? false,
    };
    const ban = live(access.bans.get(userId), now);
    if (ban) standing.ban = ban;
    const mute = live(access.mutes.get(userId), now);
    if (mute) standing.mute = mute;
    return standing;
  }

  /** Throw `forbidden`, naming the permission, unless `standing` grants it. */
  require(permission: Permission, standing: Standing, room: string): void {
    if (!allowed(permission, standing)) throw forbidden(permission, room);
  }

  async peers(room: string): Promise<string[] | null> {
    return (await this.#load(room)).peers;
  }

  async roleOf(room: string, userId: string): Promise<RoomRole | undefined> {
    return (await this.#load(room)).roles.get(userId);
  }

  async roles(room: string): Promise<Map<string, RoomRole>> {
    return (await this.#load(room)).roles;
  }

  async bans(room: string): Promise<Map<string, Restriction>> {
    return (await this.#load(room)).bans;
  }

  async mutes(room: string): Promise<Map<string, Restriction>> {
    return (await this.#load(room)).mutes;
  }

  async invited(room: string): Promise<string[]> {
    return [...(await this.#load(room)).invited.keys()];
  }

  // ---- changes (the caller invalidates and tells the other instances) ---------------------

  async setRole(room: string, userId: string, role: RoomRole | null): Promise<void> {
    await this.#store.access.setRole(room, userId, role === "member" ? null : role);
  }

  async invite(room: string, userId: string, by: string): Promise<void> {
    await this.#store.access.invite(room, userId, { by, ts: this.#now() });
  }

  async uninvite(room: string, userId: string): Promise<void> {
    await this.#store.access.uninvite(room, userId);
  }

  async restrict(kind: "ban" | "mute", room: string, userId: string, r: Restriction) {
    await this.#store.access.restrict(kind, room, userId, r);
  }

  async lift(kind: "ban" | "mute", room: string, userId: string): Promise<void> {
    await this.#store.access.lift(kind, room, userId);
  }

  async setPeers(room: string, peers: string[]): Promise<void> {
    await this.#store.access.setPeers(room, peers);
  }

  async log(event: ModerationEvent): Promise<void> {
    await this.#store.modlog.append(event);
  }

  async modlog(
    room: string,
    before: number | undefined,
    limit: number,
  ): Promise<{ entries: ModerationEvent[]; hasMore: boolean }> {
    return await this.#store.modlog.page(room, {
      limit,
      ...(before === undefined ? {} : { before }),
    });
  }

  /** Forget everything about a deleted room. */
  async forget(room: string): Promise<void> {
    await this.#store.access.forget(room);
    await this.#store.modlog.forget(room);
    this.invalidate(room);
  }
}

export function forbidden(permission: Permission, room?: string, detail?: string): ProtocolError {
  const where = room ? ` in #${room}` : "";
  return new ProtocolError(
    "forbidden",
    detail ?? `You may not ${PERMISSION_TEXT[permission]}${where}.`,
    undefined,
    permission,
  );
}
