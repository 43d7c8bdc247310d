/**
 * Presence: who is in which room, cluster-wide. Modelled on Centrifuge's PresenceManager,
 * with Phoenix's per-device merge: entries are keyed by (room, user, instance,
 * connection), and a user is present while any of their entries is.
 */
import type { Member } from "../../protocol/messages.ts";

/** A user who left a room because the last of their entries expired. */
export interface Expired {
  room: string;
  user: Member;
}

/**
 * Contract (tests/presence_contract.ts runs it against every adapter):
 * - `add` says true only for a user's first live entry in the room, on any instance;
 * - `remove` says true only for their last one;
 * - snapshots and counts cover every instance, one entry per user;
 * - an entry that is not refreshed within `ttlMs` expires; the expiry is reported by
 *   exactly one `refresh`, on whichever instance runs it first;
 * - calls reject when the engine cannot be reached.
 */
export interface Presence {
  /** This instance's id: entries are kept per instance. */
  readonly instanceId: string;
  /** How long an entry lives without a refresh. */
  readonly ttlMs: number;
  /** Add (or refresh) a connection's entry; true when the user was not present before. */
  add(room: string, user: Member, conn: string): Promise<boolean>;
  /** Remove a connection's entry; true when it was the user's last one in the room. */
  remove(room: string, userId: string, conn: string): Promise<boolean>;
  /** The users present in the room, one each. */
  snapshot(room: string): Promise<Member[]>;
  /** How many distinct users are present in each of `rooms`. */
  counts(rooms: string[]): Promise<Map<string, number>>;
  /**
   * Keep this instance's entries alive (call well within `ttlMs`), and remove entries of
   * `rooms` that expired: the users who left by that are returned, each to one caller.
   */
  refresh(rooms: string[]): Promise<Expired[]>;
  close(): Promise<void>;
}
