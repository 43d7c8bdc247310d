/**
 * The Bus carries broadcasts between hub instances (workers, processes, machines).
 * Modelled on Centrifuge's Broker: room envelopes go only to instances that watch the
 * room; everything else (server-wide pushes, pushes to one user, controls) to all.
 */

export interface BusEnvelope {
  /** Instance that published it; a hub drops envelopes carrying its own id. */
  origin: string;
  /** Room whose members receive `data`; null for every connection (e.g. a new room). */
  room: string | null;
  /** One serialized server frame, sent as is to each local recipient. */
  data: string;
  /** With a room stream entry (a `message` frame): its seq, so receivers keep order and repair gaps. */
  seq?: number;
  /** Skip this user's connections (e.g. their own typing indicator). */
  excludeUser?: string;
  /** Deliver only to this user's connections (with `room` null), e.g. their read marker. */
  toUser?: string;
  /** An instruction for every hub instead of a frame to deliver (`data` is then empty). */
  control?: HubControl;
  /** Controls are numbered per origin from 1: a receiver that sees a number skipped missed one. */
  controlSeq?: number;
}

/** What one hub tells the others to do when permissions change. */
export type HubControl =
  /** Room permissions changed: drop the cached copy. */
  | { type: "access"; room: string }
  /** Take one user (or, with null, everyone) out of a room, telling them why. */
  | {
    type: "remove";
    room: string;
    userId: string | null;
    reason: "kicked" | "banned" | "deleted" | "disabled" | "left";
    /** With a room-wide removal: members to tell even where they have not joined it. */
    members?: string[];
  }
  /** Close a user's sockets: all of them, or those of one session. */
  | { type: "close"; userId: string; session?: string; code: number; reason: string }
  /**
   * The sender may have lost envelopes (its broker link failed): reload access, check
   * every local membership, and catch every watched room up from the store.
   */
  | { type: "resync" }
  /** The sender's latest control number, repeated now and then: a receiver behind it missed one. */
  | { type: "tick" };

export type BusHandler = (envelope: BusEnvelope) => void;

/** "down": the link to the broker is lost; envelopes published meanwhile fail. */
export type BusStatus = "up" | "down";

/** Thrown (as a rejection) by `publish` when the broker did not take the envelope. */
export class BusError extends Error {
  override readonly name = "BusError";
}

/**
 * Contract (tests/bus_contract.ts runs it against every adapter):
 * - an envelope published on one instance reaches every other instance's subscribers
 *   intact, in publish order, as long as the link stays up;
 * - room envelopes reach only instances that watch the room; others reach all;
 * - `publish` rejects with BusError when the broker did not take the envelope;
 * - after `status` went "down" and back "up", envelopes may have been lost meanwhile;
 * - unsubscribing and closing stop delivery.
 */
export interface Bus {
  readonly instanceId: string;
  readonly status: BusStatus;
  /**
   * Whether envelopes can be lost between instances that stay up (a broker link that drops).
   * In-process buses cannot lose one; over such a bus, caches need no expiry.
   */
  readonly lossy: boolean;
  /**
   * Resolves once the broker took the envelope, rejects with BusError when it did not; an
   * in-process bus that takes it at once returns nothing (no promise on the hot path).
   */
  publish(envelope: Omit<BusEnvelope, "origin">): Promise<void> | void;
  /** Returns the unsubscribe function. */
  subscribe(handler: BusHandler): () => void;
  /** Start receiving the room's envelopes; resolves once the subscription is live. */
  watch(room: string): Promise<void>;
  /** Stop receiving the room's envelopes. */
  unwatch(room: string): Promise<void>;
  /** Called on every change of `status`; returns the function that stops it. */
  onStatus(listener: (status: BusStatus) => void): () => void;
  close(): Promise<void>;
}
