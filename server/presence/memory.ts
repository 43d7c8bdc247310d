/** In-process Presence: hubs sharing one MemoryPresenceRegistry see each other's entries. */
import type { Member } from "../../protocol/messages.ts";
import type { Expired, Presence } from "./types.ts";

/**
 * Entries in one process die with it, so by default they never expire and nothing needs
 * refreshing: no timer wakes an idle server (which kept V8 from returning memory). Tests
 * that simulate a dead instance sharing a registry give a TTL.
 */
export const PRESENCE_TTL_MS = Infinity;

/** One user in one room: "instance\nconn" -> expiry time. */
interface UserEntries {
  user: Member;
  conns: Map<string, number>;
}

/** room -> userId -> entries. */
type Rooms = Map<string, Map<string, UserEntries>>;

export class MemoryPresenceRegistry {
  readonly rooms: Rooms = new Map();
  constructor(readonly ttlMs = PRESENCE_TTL_MS, readonly now: () => number = Date.now) {}

  connect(instanceId: string = crypto.randomUUID()): Presence {
    return new MemoryPresence(this, instanceId);
  }
}

class MemoryPresence implements Presence {
  readonly ttlMs: number;
  readonly #mine: string;
  constructor(private readonly registry: MemoryPresenceRegistry, readonly instanceId: string) {
    this.ttlMs = registry.ttlMs;
    this.#mine = `${instanceId}\n`;
  }

  add(room: string, user: Member, conn: string): Promise<boolean> {
    let users = this.registry.rooms.get(room);
    if (!users) this.registry.rooms.set(room, users = new Map());
    let entries = users.get(user.id);
    const present = entries !== undefined && this.#live(entries);
    if (!entries) users.set(user.id, entries = { user, conns: new Map() });
    entries.user = user;
    entries.conns.set(this.#mine + conn, this.registry.now() + this.ttlMs);
    return Promise.resolve(!present);
  }

  remove(room: string, userId: string, conn: string): Promise<boolean> {
    const users = this.registry.rooms.get(room);
    const entries = users?.get(userId);
    if (!users || !entries?.conns.delete(this.#mine + conn)) return Promise.resolve(false);
    const left = !this.#live(entries);
    // Expired entries of a dead instance go too, so no sweep reports this leave again.
    if (left) users.delete(userId);
    if (users.size === 0) this.registry.rooms.delete(room);
    return Promise.resolve(left);
  }

  snapshot(room: string): Promise<Member[]> {
    const present: Member[] = [];
    for (const entries of this.registry.rooms.get(room)?.values() ?? []) {
      if (this.#live(entries)) present.push(entries.user);
    }
    return Promise.resolve(present);
  }

  counts(rooms: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const room of rooms) {
      let count = 0;
      for (const entries of this.registry.rooms.get(room)?.values() ?? []) {
        if (this.#live(entries)) count++;
      }
      counts.set(room, count);
    }
    return Promise.resolve(counts);
  }

  refresh(rooms: string[]): Promise<Expired[]> {
    const now = this.registry.now();
    for (const users of this.registry.rooms.values()) {
      for (const entries of users.values()) {
        for (const key of entries.conns.keys()) {
          if (key.startsWith(this.#mine)) entries.conns.set(key, now + this.ttlMs);
        }
      }
    }
    const expired: Expired[] = [];
    for (const room of rooms) {
      const users = this.registry.rooms.get(room);
      if (!users) continue;
      for (const [id, entries] of users) {
        for (const [key, expires] of entries.conns) if (expires <= now) entries.conns.delete(key);
        if (entries.conns.size > 0) continue;
        users.delete(id);
        expired.push({ room, user: entries.user });
      }
      if (users.size === 0) this.registry.rooms.delete(room);
    }
    return Promise.resolve(expired);
  }

  close(): Promise<void> {
    for (const [room, users] of this.registry.rooms) {
      for (const [id, entries] of users) {
        for (const key of entries.conns.keys()) {
          if (key.startsWith(this.#mine)) entries.conns.delete(key);
        }
        if (entries.conns.size === 0) users.delete(id);
      }
      if (users.size === 0) this.registry.rooms.delete(room);
    }
    return Promise.resolve();
  }

  #live(entries: UserEntries): boolean {
    const now = this.registry.now();
    for (const expires of entries.conns.values()) if (expires > now) return true;
    return false;
  }
}
