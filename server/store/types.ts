/**
 * The Store: the source of truth for users, rooms, memberships, read markers and each
 * room's stream of entries. It assigns every entry its `seq`. It also carries the typed
 * repositories of the auth, access and admin layers (repositories.ts).
 */
import type { FileRef, Member, Message, ReplyRef, Retention } from "../../protocol/messages.ts";
import type { RoomKind } from "../../protocol/permissions.ts";
import type { Repositories } from "./repositories.ts";

export interface RoomRecord {
  name: string;
  kind: RoomKind;
  /** Display name; "" shows `name`. */
  title: string;
  topic: string;
  createdAt: number;
  createdBy: string;
  /** Highest committed seq; 0 for an empty room. */
  lastSeq: number;
  receipts: boolean;
  retention?: Retention;
  /** An admin switched the room off: no one may join or post. */
  disabled?: boolean;
}

export interface NewRoom {
  name: string;
  kind?: RoomKind;
  title?: string;
  topic: string;
  createdBy: string;
  receipts?: boolean;
  retention?: Retention;
}

export interface RoomPatch {
  title?: string;
  topic?: string;
  disabled?: boolean;
  receipts?: boolean;
  /** null removes the room's own retention limits. */
  retention?: Retention | null;
}

/** What a new text message carries beyond its text; the command layer fills it in. */
export interface TextExtras {
  replyTo?: ReplyRef;
  /** Lower-case names, and "room" for @room. */
  mentions?: string[];
  file?: FileRef;
}

/** A new entry for a room's stream. */
export type EntryDraft =
  | ({ kind: "text"; room: string; author: Member; text: string; nonce: string } & TextExtras)
  | { kind: "edit"; room: string; author: Member; target: number; text: string }
  | { kind: "delete"; room: string; author: Member; target: number }
  | {
    kind: "react";
    room: string;
    author: Member;
    target: number;
    emoji: string;
    remove?: boolean;
  };

/** Decides whether `author` may edit or delete `target`; throws ProtocolError if not. */
export type EntryGuard = (target: Message) => void;

export interface AppendResult {
  message: Message;
  /** True when the nonce had already been committed; `message` is then the original. */
  duplicate: boolean;
}

export interface HistoryQuery {
  /** Entries with seq strictly below this; the latest page when neither bound is set. */
  before?: number;
  /** Entries with seq strictly above this, oldest first. */
  after?: number;
  limit: number;
}

export interface HistoryPage {
  /** Ascending by seq. */
  messages: Message[];
  /** More entries exist beyond this page in the direction asked. */
  hasMore: boolean;
}

export interface ReadMarker {
  userId: string;
  seq: number;
}

/** Where a search page ends: results strictly older than this come next. */
export interface SearchCursor {
  ts: number;
  room: string;
  seq: number;
}

/**
 * A search over text messages (not tombstones), as they are now. Results come newest
 * first: by `ts` descending, then room name ascending, then seq descending.
 */
export interface SearchQuery {
  /** Rooms the caller may read; nothing else is searched. */
  rooms: string[];
  /** Every term must be one of the message's words (searchTerms in search_terms.ts). */
  terms: string[];
  /** Author's user id. */
  author?: string;
  /** ts >= from. */
  from?: number;
  /** ts < to. */
  to?: number;
  /** Only replies to this seq (with exactly one room). */
  replyTo?: number;
  before?: SearchCursor;
  limit: number;
}

export interface SearchPage {
  messages: Message[];
  hasMore: boolean;
}

/** What retention removed. */
export interface PruneResult {
  removed: number;
}

/**
 * Contract (tests/store_contract.ts runs it against every adapter):
 * - `append` resolves only after the entry is committed, with `seq` = previous + 1;
 * - appends to one room commit in call order, so seq follows the order of calls, and
 *   stays gapless when several instances share the store;
 * - a repeated nonce from the same author in the same room returns the original, at
 *   least while the original is among the room's last 10,000 entries;
 * - an edit or delete is itself an entry, and also rewrites its target in place;
 * - `epoch` changes whenever the stored history is lost or replaced.
 * Its repositories (accounts, access, webhooks, ...) have their own contract, in
 * server/store/repositories.ts and tests/repositories_contract.ts.
 */
export interface Store extends Repositories {
  readonly epoch: string;

  createRoom(room: NewRoom): Promise<RoomRecord | null>;
  getRoom(name: string): Promise<RoomRecord | null>;
  listRooms(): Promise<RoomRecord[]>;
  updateRoom(name: string, patch: RoomPatch): Promise<RoomRecord | null>;

  /**
   * Commit an entry. Rejects with ProtocolError: room_not_found, message_not_found (an
   * edit or delete of a missing or deleted text message), or whatever `guard` throws.
   */
  append(draft: EntryDraft, guard?: EntryGuard): Promise<AppendResult>;
  history(room: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Seq of the oldest entry retention has kept (1 when nothing was removed). */
  firstSeq(room: string): Promise<number>;

  putUser(user: Member): Promise<void>;
  getUser(id: string): Promise<Member | null>;
  addMember(room: string, userId: string): Promise<void>;
  removeMember(room: string, userId: string): Promise<void>;
  roomsOf(userId: string): Promise<string[]>;
  membersOf(room: string): Promise<string[]>;
  isMember(room: string, userId: string): Promise<boolean>;
  /**
   * Remove a room with its history, members and markers; false when there was none.
   * `clearAlso` (the caller's own records of the room) runs while the name is still held,
   * so a room made anew under the same name loses nothing to this cleanup.
   */
  deleteRoom(name: string, clearAlso?: () => Promise<void>): Promise<boolean>;

  /** Move the user's marker forward to `seq` (never back); says where it is now and if it moved. */
  setReadMarker(
    room: string,
    userId: string,
    seq: number,
  ): Promise<{ seq: number; moved: boolean }>;
  readMarker(room: string, userId: string): Promise<number>;
  readMarkers(room: string): Promise<ReadMarker[]>;
  /** Text entries by others after the user's marker, counting at most `cap`. */
  unreadCount(room: string, userId: string, cap: number): Promise<number>;
  /**
   * Of those, the ones whose `mentions` hold any of `names` (the user's lower-case name
   * and "room"), counting at most `cap`.
   */
  unreadMentions(room: string, userId: string, names: string[], cap: number): Promise<number>;

  /** Text messages matching `query`, in the order SearchQuery describes. */
  search(query: SearchQuery): Promise<SearchPage>;

  /** Apply retention to one room; `now` decides message age. */
  prune(room: string, retention: Retention, now: number): Promise<PruneResult>;

  close(): Promise<void>;
}
