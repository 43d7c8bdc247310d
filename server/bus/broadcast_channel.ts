/**
 * BroadcastChannel Bus: reaches other workers of this process (`deno serve --parallel`,
 * `new Worker`), not other processes; those need a real broker such as Redis.
 */
import type { Bus, BusEnvelope, BusHandler } from "./types.ts";

export class BroadcastChannelBus implements Bus {
  readonly #channel: BroadcastChannel;
  readonly #handlers = new Set<BusHandler>();

  constructor(readonly instanceId: string = crypto.randomUUID(), channelName = "parley") {
    this.#channel = new BroadcastChannel(channelName);
    this.#channel.onmessage = (event: MessageEvent<BusEnvelope>) => {
      for (const handler of this.#handlers) handler(event.data);
    };
  }

  publish(envelope: Omit<BusEnvelope, "origin">): void {
    this.#channel.postMessage({ ...envelope, origin: this.instanceId });
  }

  subscribe(handler: BusHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  close(): Promise<void> {
    this.#handlers.clear();
    this.#channel.close();
    return Promise.resolve();
  }
}
