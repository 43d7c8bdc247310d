/** The Store: the source of truth for rooms and messages. It assigns each message its `seq`. */
import type { Member, Message } from "../../protocol/messages.ts";

export interface RoomRecord {
  name: string;
  topic: string;
  createdAt: number;
  createdBy: string;
  /** Highest committed seq; 0 for an empty room. */
  lastSeq: number;
}

export interface NewRoom {
  name: string;
  topic: string;
  createdBy: string;
}

export interface MessageDraft {
  room: string;
  author: Member;
  text: string;
  /** Client idempotency key: the same (room, author, nonce) never commits twice. */
  nonce: string;
}

export interface AppendResult {
  message: Message;
  /** True when the nonce had already been committed; `message` is then the original. */
  duplicate: boolean;
}

export interface HistoryQuery {
  /** Messages with seq strictly below this; the latest page when absent. */
  before?: number;
  /** Messages with seq strictly above this, oldest first. Ignored when `before` is set. */
  after?: number;
  limit: number;
}

export interface HistoryPage {
  /** Ascending by seq. */
  messages: Message[];
  /** More messages exist beyond this page in the direction asked. */
  hasMore: boolean;
}

/**
 * Contract (tests/store_contract.ts runs it against every adapter):
 * - `append` resolves only after the message is committed, with `seq` = previous + 1;
 * - appends to one room commit in call order, so seq follows the order of calls;
 * - a repeated nonce from the same author in the same room returns the original message;
 * - `epoch` changes whenever the stored history is lost or replaced.
 */
export interface Store {
  readonly epoch: string;
  /** Null when a room with that name exists already. */
  createRoom(room: NewRoom): Promise<RoomRecord | null>;
  getRoom(name: string): Promise<RoomRecord | null>;
  listRooms(): Promise<RoomRecord[]>;
  /** Rejects with ProtocolError("room_not_found") for an unknown room. */
  append(draft: MessageDraft): Promise<AppendResult>;
  history(room: string, query: HistoryQuery): Promise<HistoryPage>;
  close(): Promise<void>;
}
