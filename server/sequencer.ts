/**
 * Keeps each room's stream entries in seq order on their way to this instance's
 * connections. Entries come from local commits and from the Bus, which may reorder or
 * lose them (several instances append to one room; a broker link fails). An entry is
 * delivered only right after its predecessor; a gap that the Bus does not fill within
 * `gapWaitMs` is repaired from the Store, the source of truth.
 */
import type { Message, PushFrame } from "../protocol/messages.ts";
import type { Store } from "./store/types.ts";

interface Stream {
  /** Seq delivered last; null until the room's position is known. */
  delivered: number | null;
  /** Entries that arrived ahead of a gap, by seq. */
  held: Map<number, string>;
  timer: ReturnType<typeof setTimeout> | undefined;
  repairing: boolean;
}

export interface SequencerOptions {
  store: Store;
  /** Hands one entry's serialized frame to the room's local connections. */
  deliver: (room: string, data: string) => void;
  /** How long a gap may wait for the Bus before the Store is read. */
  gapWaitMs?: number;
  /** Failures of a repair read; the repair is retried on the next entry or catch-up. */
  onError?: (error: unknown) => void;
}

const REPAIR_PAGE = 500;
/** Entries held ahead of a gap before the gap is repaired at once. */
const HELD_CAP = 1000;
const FAILED_RETRY_MS = 1000;

export class Sequencer {
  readonly #streams = new Map<string, Stream>();
  readonly #store: Store;
  readonly #deliver: (room: string, data: string) => void;
  readonly #gapWaitMs: number;
  readonly #onError: (error: unknown) => void;

  constructor(options: SequencerOptions) {
    this.#store = options.store;
    this.#deliver = options.deliver;
    this.#gapWaitMs = options.gapWaitMs ?? 50;
    this.#onError = options.onError ?? (() => {});
  }

  /** Follow a room from `lastSeq` on: entries up to it are the joiners' history, not live. */
  open(room: string, lastSeq: number): void {
    const stream = this.#stream(room);
    if (stream.delivered !== null) return;
    stream.delivered = lastSeq;
    for (const seq of stream.held.keys()) if (seq <= lastSeq) stream.held.delete(seq);
    this.#drain(room, stream);
  }

  /** Whether `room` is followed (its position known). */
  following(room: string): boolean {
    return (this.#streams.get(room)?.delivered ?? null) !== null;
  }

  /** Stop following a room that no local connection uses any more. */
  close(room: string): void {
    const stream = this.#streams.get(room);
    if (stream) clearTimeout(stream.timer);
    this.#streams.delete(room);
  }

  /** An entry with its serialized frame: delivered now, or once what precedes it is. */
  offer(room: string, seq: number, data: string): void {
    const stream = this.#streams.get(room);
    if (!stream) return; // no local connection follows the room
    if (stream.delivered !== null && seq <= stream.delivered) return; // already delivered
    if (stream.delivered !== null && seq === stream.delivered + 1 && stream.held.size === 0) {
      stream.delivered = seq;
      this.#deliver(room, data);
      return;
    }
    stream.held.set(seq, data);
    this.#drain(room, stream);
  }

  /** Read each followed room's tail from the Store: after a broker outage, or a hint that one was missed. */
  async catchUpAll(): Promise<void> {
    await Promise.all([...this.#streams.keys()].map((room) => this.catchUp(room)));
  }

  async catchUp(room: string): Promise<void> {
    const stream = this.#streams.get(room);
    if (!stream || stream.delivered === null) return;
    await this.#repair(room, stream);
  }

  closeAll(): void {
    for (const room of [...this.#streams.keys()]) this.close(room);
  }

  #stream(room: string): Stream {
    let stream = this.#streams.get(room);
    if (!stream) {
      stream = { delivered: null, held: new Map(), timer: undefined, repairing: false };
      this.#streams.set(room, stream);
    }
    return stream;
  }

  /** Deliver what is contiguous; wait for (or repair) the rest. */
  #drain(room: string, stream: Stream, waitMs = this.#gapWaitMs): void {
    if (stream.delivered === null) return;
    for (const seq of stream.held.keys()) if (seq <= stream.delivered) stream.held.delete(seq);
    let next: string | undefined;
    while ((next = stream.held.get(stream.delivered + 1)) !== undefined) {
      stream.held.delete(++stream.delivered);
      this.#deliver(room, next);
    }
    clearTimeout(stream.timer);
    stream.timer = undefined;
    if (stream.held.size === 0) return;
    if (stream.held.size >= HELD_CAP && waitMs === this.#gapWaitMs) {
      void this.#repair(room, stream);
      return;
    }
    stream.timer = setTimeout(() => {
      stream.timer = undefined;
      void this.#repair(room, stream);
    }, waitMs);
  }

  async #repair(room: string, stream: Stream): Promise<void> {
    if (stream.repairing || stream.delivered === null) return;
    stream.repairing = true;
    let failed = false;
    try {
      for (;;) {
        const after: number = stream.delivered;
        const page = await this.#store.history(room, { after, limit: REPAIR_PAGE });
        if (this.#streams.get(room) !== stream) return; // closed meanwhile
        for (const message of page.messages) this.#take(room, stream, message);
        // Retention may have removed what was missed: go on from what is kept.
        const first = page.messages[0]?.seq;
        if (first !== undefined && first > (stream.delivered ?? 0) + 1) {
          stream.delivered = first - 1;
          for (const message of page.messages) this.#take(room, stream, message);
        }
        if (!page.hasMore || stream.delivered === after) break;
      }
    } catch (error) {
      failed = true;
      this.#onError(error);
    } finally {
      stream.repairing = false;
    }
    // A store that failed is asked again later, not in a tight loop.
    if (this.#streams.get(room) === stream) {
      this.#drain(room, stream, failed ? FAILED_RETRY_MS : this.#gapWaitMs);
    }
  }

  #take(room: string, stream: Stream, message: Message): void {
    if (stream.delivered === null || message.seq !== stream.delivered + 1) return;
    stream.delivered = message.seq;
    stream.held.delete(message.seq);
    this.#deliver(room, JSON.stringify({ type: "message", message } satisfies PushFrame));
  }
}
