/**
 * BroadcastChannel Bus: reaches other workers of this process (`deno serve --parallel`,
 * `new Worker`), not other processes; those need a real broker such as Redis.
 */
import type { Bus, BusEnvelope, BusHandler, BusStatus } from "./types.ts";
import { BusError } from "./types.ts";
import { WatchedRooms } from "./watched.ts";

export class BroadcastChannelBus implements Bus {
  readonly #channel: BroadcastChannel;
  readonly #handlers = new Set<BusHandler>();
  readonly #watched = new WatchedRooms();
  readonly status: BusStatus = "up";
  readonly lossy = false;
  #closed = false;

  constructor(readonly instanceId: string = crypto.randomUUID(), channelName = "parley") {
    this.#channel = new BroadcastChannel(channelName);
    this.#channel.onmessage = (event: MessageEvent<BusEnvelope>) => {
      if (!this.#watched.wants(event.data)) return;
      for (const handler of this.#handlers) handler(event.data);
    };
  }

  publish(envelope: Omit<BusEnvelope, "origin">): Promise<void> | void {
    if (this.#closed) return Promise.reject(new BusError("the bus is closed"));
    this.#channel.postMessage({ ...envelope, origin: this.instanceId });
  }

  subscribe(handler: BusHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  watch(room: string): Promise<void> {
    return this.#watched.add(room);
  }

  unwatch(room: string): Promise<void> {
    return this.#watched.delete(room);
  }

  onStatus(): () => void {
    return () => {};
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    this.#channel.close();
    return Promise.resolve();
  }
}
