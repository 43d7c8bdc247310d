/** In-memory Store: for tests and `--data :memory:` throwaway servers. */
import { ProtocolError } from "../../protocol/errors.ts";
import type { Message } from "../../protocol/messages.ts";
import type {
  AppendResult,
  HistoryPage,
  HistoryQuery,
  MessageDraft,
  NewRoom,
  RoomRecord,
  Store,
} from "./types.ts";

interface RoomData {
  record: RoomRecord;
  /** messages[i].seq === i + 1 */
  messages: Message[];
  byNonce: Map<string, Message>;
}

export class MemoryStore implements Store {
  readonly epoch: string = crypto.randomUUID();
  readonly #rooms = new Map<string, RoomData>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  createRoom(room: NewRoom): Promise<RoomRecord | null> {
    if (this.#rooms.has(room.name)) return Promise.resolve(null);
    const record: RoomRecord = { ...room, createdAt: this.#now(), lastSeq: 0 };
    this.#rooms.set(room.name, { record, messages: [], byNonce: new Map() });
    return Promise.resolve({ ...record });
  }

  getRoom(name: string): Promise<RoomRecord | null> {
    const data = this.#rooms.get(name);
    return Promise.resolve(data ? { ...data.record } : null);
  }

  listRooms(): Promise<RoomRecord[]> {
    return Promise.resolve([...this.#rooms.values()].map((d) => ({ ...d.record })));
  }

  append(draft: MessageDraft): Promise<AppendResult> {
    const data = this.#rooms.get(draft.room);
    if (!data) return Promise.reject(new ProtocolError("room_not_found"));
    const key = `${draft.author.id}\n${draft.nonce}`;
    const original = data.byNonce.get(key);
    if (original) return Promise.resolve({ message: original, duplicate: true });
    const seq = data.record.lastSeq + 1;
    const message: Message = {
      id: `${draft.room}:${seq}:${this.epoch.slice(0, 8)}`,
      room: draft.room,
      seq,
      author: { id: draft.author.id, name: draft.author.name },
      text: draft.text,
      ts: this.#now(),
      nonce: draft.nonce,
    };
    data.messages.push(message);
    data.byNonce.set(key, message);
    data.record.lastSeq = seq;
    return Promise.resolve({ message, duplicate: false });
  }

  history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    const data = this.#rooms.get(room);
    if (!data) return Promise.reject(new ProtocolError("room_not_found"));
    const all = data.messages;
    if (query.before === undefined && query.after !== undefined) {
      const start = Math.max(0, query.after);
      const messages = all.slice(start, start + query.limit);
      return Promise.resolve({ messages, hasMore: start + query.limit < all.length });
    }
    const end = Math.min(all.length, Math.max(0, (query.before ?? all.length + 1) - 1));
    const start = Math.max(0, end - query.limit);
    return Promise.resolve({ messages: all.slice(start, end), hasMore: start > 0 });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
