/**
 * This instance's side of cluster-wide presence: it writes an entry per local connection
 * and room to the Presence port, keeps them alive, and turns a user's first and last
 * connection anywhere into one `presence` diff per room, broadcast to the cluster.
 */
import type { Member, PushFrame } from "../protocol/messages.ts";
import type { PresenceEvent } from "./hooks.ts";
import type { Presence } from "./presence/types.ts";

export interface PresenceTrackerOptions {
  presence: Presence;
  /** Sends a diff to the room on every instance. */
  broadcast: (room: string, frame: PushFrame, excludeUser?: string) => void;
  /** The application's presence hook. */
  onPresence?: (event: PresenceEvent) => void;
  /** This instance's own users of a room, when the Presence port cannot answer. */
  localUsers: (room: string) => Member[];
  /** Rooms this instance follows, whose entries it keeps alive. */
  rooms: () => string[];
  onError: (what: string, error: unknown) => void;
}

export const PRESENCE_PREFIX = '{"type":"presence"';

export class PresenceTracker {
  readonly #options: PresenceTrackerOptions;
  readonly #presence: Presence;
  readonly #diffs = new Map<string, { joins: Map<string, Member>; leaves: Map<string, Member> }>();
  #scheduled = false;
  /** Rooms' cluster-wide online counts, as last read and kept in step with diffs. */
  readonly #online = new Map<string, number>();
  #refreshTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: PresenceTrackerOptions) {
    this.#options = options;
    this.#presence = options.presence;
  }

  /** Write a connection's entry; a user new to the room anywhere is announced. */
  add(room: string, user: Member, conn: string): Promise<void> {
    this.#keepAlive();
    return this.#presence.add(room, user, conn).then((first) => {
      if (first) this.#changed(room, user, true);
    }, (error) => this.#options.onError("presence", error));
  }

  /** Remove a connection's entry; a user gone from the room everywhere is announced. */
  remove(room: string, user: Member, conn: string): Promise<void> {
    return this.#presence.remove(room, user.id, conn).then((last) => {
      if (last) this.#changed(room, user, false);
    }, (error) => this.#options.onError("presence", error));
  }

  /** Write an entry again without announcing it (after the engine may have lost it). */
  async rewrite(room: string, user: Member, conn: string): Promise<void> {
    await this.#presence.add(room, user, conn).catch((error) =>
      this.#options.onError("presence", error)
    );
  }

  /** The users present in a room on every instance; this instance's alone if Presence fails. */
  async snapshot(room: string): Promise<Member[]> {
    try {
      const users = await this.#presence.snapshot(room);
      this.#online.set(room, users.length);
      return users;
    } catch (error) {
      this.#options.onError("presence", error);
      return this.#options.localUsers(room);
    }
  }

  /** Refresh the cached cluster-wide online counts of `rooms`. */
  async count(rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    try {
      for (const [room, count] of await this.#presence.counts(rooms)) {
        if (count > 0) this.#online.set(room, count);
        else this.#online.delete(room);
      }
    } catch (error) {
      this.#options.onError("presence", error);
    }
  }

  /** The room's cluster-wide count as last known; this instance's own if never read. */
  online(room: string): number {
    return this.#online.get(room) ?? this.#options.localUsers(room).length;
  }

  /** A diff from another instance: keep the cached count in step. */
  heard(room: string, data: string): void {
    const diff = JSON.parse(data) as { joins: unknown[]; leaves: unknown[] };
    this.#adjust(room, diff.joins.length - diff.leaves.length);
  }

  /** The instance stopped following a room. */
  forget(room: string): void {
    this.#online.delete(room);
    if (this.#options.rooms().length === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#refreshTimer);
    this.#refreshTimer = undefined;
    this.#diffs.clear();
  }

  /** Refresh this instance's entries well within their TTL, and announce expired users. */
  #keepAlive(): void {
    if (!Number.isFinite(this.#presence.ttlMs)) return; // entries that cannot expire
    this.#refreshTimer ??= setInterval(() => {
      this.#presence.refresh(this.#options.rooms()).then((expired) => {
        for (const { room, user } of expired) this.#changed(room, user, false);
      }, (error) => this.#options.onError("presence refresh", error));
    }, this.#presence.ttlMs / 3);
  }

  /**
   * Presence changes go out as one diff per room at the end of the task (a microtask, so
   * they keep their order with the messages that follow): joins and leaves that land in
   * one task (a disconnect leaving many rooms, a bus delivery) share a frame, and a join
   * and a leave of the same user cancel out.
   */
  #changed(room: string, user: Member, joined: boolean): void {
    let diff = this.#diffs.get(room);
    if (!diff) this.#diffs.set(room, diff = { joins: new Map(), leaves: new Map() });
    const [add, cancel] = joined ? [diff.joins, diff.leaves] : [diff.leaves, diff.joins];
    if (!cancel.delete(user.id)) add.set(user.id, user);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    const diffs = [...this.#diffs];
    this.#diffs.clear();
    for (const [room, diff] of diffs) {
      if (diff.joins.size === 0 && diff.leaves.size === 0) continue;
      const event = { room, joins: [...diff.joins.values()], leaves: [...diff.leaves.values()] };
      // A lone newcomer learns of itself from its join reply's snapshot, not from a diff.
      const only = event.joins.length === 1 && event.leaves.length === 0
        ? event.joins[0]!.id
        : undefined;
      this.#options.broadcast(room, { type: "presence", ...event }, only);
      this.#adjust(room, event.joins.length - event.leaves.length);
      this.#options.onPresence?.(event);
    }
  }

  #adjust(room: string, delta: number): void {
    const count = this.#online.get(room);
    if (count !== undefined) this.#online.set(room, Math.max(0, count + delta));
  }
}
