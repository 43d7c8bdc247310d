/** The rooms an in-process bus endpoint watches, for adapters whose transport carries all. */
import type { BusEnvelope } from "./types.ts";

export class WatchedRooms {
  readonly #rooms = new Set<string>();

  add(room: string): Promise<void> {
    this.#rooms.add(room);
    return Promise.resolve();
  }

  delete(room: string): Promise<void> {
    this.#rooms.delete(room);
    return Promise.resolve();
  }

  /** Whether an endpoint watching these rooms receives `envelope`. */
  wants(envelope: BusEnvelope): boolean {
    return envelope.room === null || envelope.toUser !== undefined ||
      this.#rooms.has(envelope.room);
  }
}
