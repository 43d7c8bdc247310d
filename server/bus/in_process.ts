/**
 * What every in-process bus shares: its transport carries every envelope and cannot lose
 * one, so it is always "up", filters rooms by what its hub watches, and hands the rest on.
 */
import type { Bus, BusEnvelope, BusHandler, BusStatus } from "./types.ts";

export abstract class InProcessBus implements Bus {
  readonly status: BusStatus = "up";
  readonly lossy = false;
  readonly #handlers = new Set<BusHandler>();
  readonly #rooms = new Set<string>();

  constructor(readonly instanceId: string) {}

  abstract publish(envelope: Omit<BusEnvelope, "origin">): Promise<void> | void;

  subscribe(handler: BusHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  watch(room: string): Promise<void> {
    this.#rooms.add(room);
    return Promise.resolve();
  }

  unwatch(room: string): Promise<void> {
    this.#rooms.delete(room);
    return Promise.resolve();
  }

  onStatus(): () => void {
    return () => {};
  }

  close(): Promise<void> {
    this.#handlers.clear();
    return Promise.resolve();
  }

  /** An envelope from the transport: to the handlers, if this endpoint wants it. */
  protected receive(envelope: BusEnvelope): void {
    const wanted = envelope.room === null || envelope.toUser !== undefined ||
      envelope.control !== undefined || this.#rooms.has(envelope.room);
    if (!wanted) return;
    for (const handler of this.#handlers) handler(envelope);
  }
}
