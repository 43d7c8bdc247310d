/** The Bus carries broadcasts between hub instances (workers, processes, machines). */

export interface BusEnvelope {
  /** Instance that published it; a hub drops envelopes carrying its own id. */
  origin: string;
  /** Room whose members receive `data`; null for every connection (e.g. a new room). */
  room: string | null;
  /** One serialized server frame, sent as is to each local recipient. */
  data: string;
  /** Skip this user's connections (e.g. their own typing indicator). */
  excludeUser?: string;
  /** Deliver only to this user's connections (with `room` null), e.g. their read marker. */
  toUser?: string;
  /** An instruction for every hub instead of a frame to deliver (`data` is then empty). */
  control?: HubControl;
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
  | { type: "close"; userId: string; session?: string; code: number; reason: string };

export type BusHandler = (envelope: BusEnvelope) => void;

/**
 * Contract (tests/bus_contract_test.ts runs it against every adapter): an envelope
 * published on one instance reaches every other instance's subscribers intact, in
 * publish order; unsubscribing and closing stop delivery.
 */
export interface Bus {
  readonly instanceId: string;
  publish(envelope: Omit<BusEnvelope, "origin">): void;
  /** Returns the unsubscribe function. */
  subscribe(handler: BusHandler): () => void;
  close(): Promise<void>;
}
