/** In-memory Store: for tests and `--data :memory:` throwaway servers. */
import { ProtocolError } from "../../protocol/errors.ts";
import type { Member, Message, Retention } from "../../protocol/messages.ts";
import {
  applyRoomPatch,
  applyToTarget,
  countsAsUnread,
  DAY_MS,
  makeEntry,
  mentionsAny,
} from "./entries.ts";
import { afterCursor, matchesSearch, searchOrder } from "./search_match.ts";
import type {
  AppendResult,
  EntryDraft,
  EntryGuard,
  HistoryPage,
  HistoryQuery,
  NewRoom,
  PruneResult,
  ReadMarker,
  RoomPatch,
  RoomRecord,
  SearchPage,
  SearchQuery,
  Store,
} from "./types.ts";
import { keyedRepositories } from "./keyed.ts";
import { MemoryKeyValue } from "./keyed_memory.ts";
import type { Repositories } from "./repositories.ts";

interface RoomData {
  record: RoomRecord;
  /** entries[i].seq === firstSeq + i */
  entries: Message[];
  firstSeq: number;
  /** "authorId\nnonce" -> seq */
  nonces: Map<string, number>;
  markers: Map<string, number>;
  members: Set<string>;
}

export class MemoryStore implements Store {
  readonly epoch: string = crypto.randomUUID();
  readonly accounts: Repositories["accounts"];
  readonly sessions: Repositories["sessions"];
  readonly invites: Repositories["invites"];
  readonly tickets: Repositories["tickets"];
  readonly loginFailures: Repositories["loginFailures"];
  readonly access: Repositories["access"];
  readonly modlog: Repositories["modlog"];
  readonly webhooks: Repositories["webhooks"];
  readonly apiKeys: Repositories["apiKeys"];
  readonly #rooms = new Map<string, RoomData>();
  /** Names of rooms whose deletion is still clearing up; not free to create yet. */
  readonly #deleting = new Set<string>();
  readonly #users = new Map<string, Member>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    ({
      accounts: this.accounts,
      sessions: this.sessions,
      invites: this.invites,
      tickets: this.tickets,
      loginFailures: this.loginFailures,
      access: this.access,
      modlog: this.modlog,
      webhooks: this.webhooks,
      apiKeys: this.apiKeys,
    } = keyedRepositories(new MemoryKeyValue()));
  }

  createRoom(room: NewRoom): Promise<RoomRecord | null> {
    if (this.#rooms.has(room.name) || this.#deleting.has(room.name)) return Promise.resolve(null);
    const record: RoomRecord = {
      name: room.name,
      kind: room.kind ?? "public",
      title: room.title ?? "",
      topic: room.topic,
      createdBy: room.createdBy,
      createdAt: this.#now(),
      lastSeq: 0,
      receipts: room.receipts ?? false,
      ...(room.retention ? { retention: room.retention } : {}),
    };
    this.#rooms.set(room.name, {
      record,
      entries: [],
      firstSeq: 1,
      nonces: new Map(),
      markers: new Map(),
      members: new Set(),
    });
    return Promise.resolve({ ...record });
  }

  getRoom(name: string): Promise<RoomRecord | null> {
    const data = this.#rooms.get(name);
    return Promise.resolve(data ? { ...data.record } : null);
  }

  listRooms(): Promise<RoomRecord[]> {
    return Promise.resolve([...this.#rooms.values()].map((d) => ({ ...d.record })));
  }

  updateRoom(name: string, patch: RoomPatch): Promise<RoomRecord | null> {
    const data = this.#rooms.get(name);
    if (!data) return Promise.resolve(null);
    const record: RoomRecord = applyRoomPatch(data.record, patch);
    data.record = record;
    return Promise.resolve({ ...record });
  }

  append(draft: EntryDraft, guard?: EntryGuard): Promise<AppendResult> {
    try {
      return Promise.resolve(this.#append(draft, guard));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #append(draft: EntryDraft, guard?: EntryGuard): AppendResult {
    const data = this.#room(draft.room);
    const ts = this.#now();
    if (draft.kind === "text") {
      const original = data.nonces.get(`${draft.author.id}\n${draft.nonce}`);
      const entry = original === undefined ? undefined : this.#entry(data, original);
      if (entry) return { message: entry, duplicate: true };
    } else {
      const target = this.#entry(data, draft.target);
      const updated = applyToTarget(draft, target, ts, guard);
      data.entries[draft.target - data.firstSeq] = updated;
    }
    const seq = data.record.lastSeq + 1;
    const message = makeEntry(draft, seq, ts, this.epoch);
    data.entries.push(message);
    if (draft.kind === "text") data.nonces.set(`${draft.author.id}\n${draft.nonce}`, seq);
    data.record.lastSeq = seq;
    return { message, duplicate: false };
  }

  history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    const data = this.#rooms.get(room);
    if (!data) return Promise.reject(new ProtocolError("room_not_found"));
    const { entries, firstSeq } = data;
    const end = Math.min(data.record.lastSeq + 1, query.before ?? Infinity); // exclusive
    if (query.after !== undefined) {
      const from = Math.max(query.after + 1, firstSeq);
      const to = Math.min(end, from + query.limit);
      const messages = entries.slice(from - firstSeq, Math.max(from, to) - firstSeq);
      return Promise.resolve({ messages, hasMore: to < end });
    }
    const from = Math.max(firstSeq, end - query.limit);
    const messages = entries.slice(from - firstSeq, Math.max(from, end) - firstSeq);
    return Promise.resolve({ messages, hasMore: from > firstSeq });
  }

  firstSeq(room: string): Promise<number> {
    return Promise.resolve(this.#rooms.get(room)?.firstSeq ?? 1);
  }

  putUser(user: Member): Promise<void> {
    this.#users.set(user.id, { id: user.id, name: user.name });
    return Promise.resolve();
  }

  getUser(id: string): Promise<Member | null> {
    return Promise.resolve(this.#users.get(id) ?? null);
  }

  addMember(room: string, userId: string): Promise<void> {
    this.#rooms.get(room)?.members.add(userId);
    return Promise.resolve();
  }

  removeMember(room: string, userId: string): Promise<void> {
    this.#rooms.get(room)?.members.delete(userId);
    return Promise.resolve();
  }

  roomsOf(userId: string): Promise<string[]> {
    const names = [...this.#rooms.values()].filter((d) => d.members.has(userId));
    return Promise.resolve(names.map((d) => d.record.name).sort());
  }

  membersOf(room: string): Promise<string[]> {
    return Promise.resolve([...(this.#rooms.get(room)?.members ?? [])].sort());
  }

  isMember(room: string, userId: string): Promise<boolean> {
    return Promise.resolve(this.#rooms.get(room)?.members.has(userId) ?? false);
  }

  async deleteRoom(name: string, clearAlso?: () => Promise<void>): Promise<boolean> {
    if (!this.#rooms.delete(name)) return false;
    this.#deleting.add(name);
    try {
      await clearAlso?.();
    } finally {
      this.#deleting.delete(name);
    }
    return true;
  }

  setReadMarker(
    room: string,
    userId: string,
    seq: number,
  ): Promise<{ seq: number; moved: boolean }> {
    const data = this.#rooms.get(room);
    if (!data) return Promise.reject(new ProtocolError("room_not_found"));
    const before = data.markers.get(userId) ?? 0;
    const marker = Math.max(before, Math.min(seq, data.record.lastSeq));
    data.markers.set(userId, marker);
    return Promise.resolve({ seq: marker, moved: marker > before });
  }

  readMarker(room: string, userId: string): Promise<number> {
    return Promise.resolve(this.#rooms.get(room)?.markers.get(userId) ?? 0);
  }

  readMarkers(room: string): Promise<ReadMarker[]> {
    const markers = this.#rooms.get(room)?.markers ?? new Map<string, number>();
    return Promise.resolve([...markers].map(([userId, seq]) => ({ userId, seq })));
  }

  unreadCount(room: string, userId: string, cap: number): Promise<number> {
    const data = this.#rooms.get(room);
    if (!data) return Promise.resolve(0);
    const from = Math.max(data.firstSeq, (data.markers.get(userId) ?? 0) + 1);
    let count = 0;
    for (let i = from - data.firstSeq; i < data.entries.length && count < cap; i++) {
      if (countsAsUnread(data.entries[i]!, userId)) count++;
    }
    return Promise.resolve(count);
  }

  unreadMentions(room: string, userId: string, names: string[], cap: number): Promise<number> {
    const data = this.#rooms.get(room);
    if (!data) return Promise.resolve(0);
    const from = Math.max(data.firstSeq, (data.markers.get(userId) ?? 0) + 1);
    let count = 0;
    for (let i = from - data.firstSeq; i < data.entries.length && count < cap; i++) {
      const entry = data.entries[i]!;
      if (countsAsUnread(entry, userId) && mentionsAny(entry, names)) count++;
    }
    return Promise.resolve(count);
  }

  /** A scan: the memory store is for tests and throwaway servers. */
  search(query: SearchQuery): Promise<SearchPage> {
    const found: Message[] = [];
    for (const room of query.rooms) {
      const data = this.#rooms.get(room);
      if (!data) continue;
      for (const entry of data.entries) {
        if (matchesSearch(entry, query) && afterCursor(entry, query.before)) found.push(entry);
      }
    }
    found.sort(searchOrder);
    return Promise.resolve({
      messages: found.slice(0, query.limit),
      hasMore: found.length > query.limit,
    });
  }

  prune(room: string, retention: Retention, now: number): Promise<PruneResult> {
    const data = this.#rooms.get(room);
    if (!data) return Promise.resolve({ removed: 0 });
    let drop = 0;
    if (retention.maxCount !== undefined) {
      drop = Math.max(0, data.entries.length - retention.maxCount);
    }
    if (retention.maxAgeDays !== undefined) {
      const cutoff = now - retention.maxAgeDays * DAY_MS;
      while (drop < data.entries.length && data.entries[drop]!.ts < cutoff) drop++;
    }
    for (const entry of data.entries.slice(0, drop)) {
      if (entry.kind === "text") data.nonces.delete(`${entry.author.id}\n${entry.nonce}`);
    }
    data.entries.splice(0, drop);
    data.firstSeq += drop;
    return Promise.resolve({ removed: drop });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #room(name: string): RoomData {
    const data = this.#rooms.get(name);
    if (!data) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    return data;
  }

  #entry(data: RoomData, seq: number): Message | undefined {
    return seq >= data.firstSeq ? data.entries[seq - data.firstSeq] : undefined;
  }
}
