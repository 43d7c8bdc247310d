/** Per-room access and the moderation log over a KeyValue (see keyed.ts). */
import type { ModerationEvent } from "../../protocol/messages.ts";
import type { RoomRole } from "../../protocol/permissions.ts";
import { type KeyValue, pad } from "./keyed.ts";
import type {
  AccessRepository,
  ModlogPage,
  ModlogRepository,
  Restriction,
  RestrictionKind,
  RoomAccessState,
  RoomInvitation,
} from "./repositories.ts";

/** ["role" | "inv" | "ban" | "mute", room, user], and ["dm", room] for a dm's peers. */
export class KeyedAccess implements AccessRepository {
  constructor(readonly kv: KeyValue) {}

  async load(room: string): Promise<RoomAccessState> {
    const [roles, invited, bans, mutes, peers] = await Promise.all([
      this.kv.list<RoomRole>(["role", room]),
      this.kv.list<RoomInvitation>(["inv", room]),
      this.kv.list<Restriction>(["ban", room]),
      this.kv.list<Restriction>(["mute", room]),
      this.kv.get<string[]>(["dm", room]),
    ]);
    return {
      roles: byUser(roles),
      invited: byUser(invited),
      bans: byUser(bans),
      mutes: byUser(mutes),
      peers,
    };
  }

  async setRole(room: string, userId: string, role: RoomRole | null): Promise<void> {
    if (role === null) await this.kv.delete(["role", room, userId]);
    else await this.kv.set(["role", room, userId], role);
  }

  async invite(room: string, userId: string, invitation: RoomInvitation): Promise<void> {
    await this.kv.set(["inv", room, userId], invitation);
  }

  async uninvite(room: string, userId: string): Promise<void> {
    await this.kv.delete(["inv", room, userId]);
  }

  async restrict(kind: RestrictionKind, room: string, userId: string, r: Restriction) {
    await this.kv.set([kind, room, userId], r);
  }

  async lift(kind: RestrictionKind, room: string, userId: string): Promise<void> {
    await this.kv.delete([kind, room, userId]);
  }

  async setPeers(room: string, peers: string[]): Promise<void> {
    await this.kv.set(["dm", room], peers);
  }

  async forget(room: string): Promise<void> {
    for (const prefix of ["role", "inv", "ban", "mute"]) {
      for (const { key } of await this.kv.list([prefix, room])) await this.kv.delete(key);
    }
    await this.kv.delete(["dm", room]);
  }
}

function byUser<T>(rows: { key: string[]; value: T }[]): Map<string, T> {
  return new Map(rows.map((row) => [row.key[2]!, row.value]));
}

/**
 * ["modlog", room, "<ts, 15 digits>-<write count, 9 digits>-<id>"]: the count orders the
 * entries of one millisecond as this instance wrote them (a mute, then a ban).
 */
export class KeyedModlog implements ModlogRepository {
  #writes = 0;

  constructor(readonly kv: KeyValue) {}

  async append(event: ModerationEvent): Promise<void> {
    this.#writes = (this.#writes + 1) % 1e9;
    const order = `${pad(event.ts)}-${String(this.#writes).padStart(9, "0")}-${event.id}`;
    await this.kv.set(["modlog", event.room, order], event);
  }

  async page(room: string, query: { before?: number; limit: number }): Promise<ModlogPage> {
    const rows = await this.kv.list<ModerationEvent>(["modlog", room], {
      reverse: true,
      limit: query.limit + 1,
      ...(query.before === undefined ? {} : { before: pad(query.before) }),
    });
    return {
      entries: rows.slice(0, query.limit).map((row) => row.value),
      hasMore: rows.length > query.limit,
    };
  }

  async forget(room: string): Promise<void> {
    for (const { key } of await this.kv.list(["modlog", room])) await this.kv.delete(key);
  }
}
