/**
 * BroadcastChannel Bus: reaches other workers of this process (`deno serve --parallel`,
 * `new Worker`), not other processes; those need a real broker such as Redis.
 */
import type { BusEnvelope } from "./types.ts";
import { BusError } from "./types.ts";
import { InProcessBus } from "./in_process.ts";

export class BroadcastChannelBus extends InProcessBus {
  readonly #channel: BroadcastChannel;
  #closed = false;

  constructor(instanceId: string = crypto.randomUUID(), channelName = "parley") {
    super(instanceId);
    this.#channel = new BroadcastChannel(channelName);
    this.#channel.onmessage = (event: MessageEvent<BusEnvelope>) => this.receive(event.data);
  }

  publish(envelope: Omit<BusEnvelope, "origin">): Promise<void> | void {
    if (this.#closed) return Promise.reject(new BusError("the bus is closed"));
    this.#channel.postMessage({ ...envelope, origin: this.instanceId });
  }

  override close(): Promise<void> {
    this.#closed = true;
    this.#channel.close();
    return super.close();
  }
}
