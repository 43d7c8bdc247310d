/** In-process Bus: hubs sharing one LocalBroker see each other's broadcasts. */
import type { Bus, BusEnvelope, BusHandler } from "./types.ts";

export class LocalBroker {
  readonly #buses = new Set<LocalBus>();

  /** A Bus endpoint for one hub instance. */
  connect(instanceId: string = crypto.randomUUID()): Bus {
    const bus = new LocalBus(instanceId, this);
    this.#buses.add(bus);
    return bus;
  }

  deliver(envelope: BusEnvelope): void {
    for (const bus of this.#buses) bus.receive(envelope);
  }

  detach(bus: LocalBus): void {
    this.#buses.delete(bus);
  }
}

class LocalBus implements Bus {
  readonly #handlers = new Set<BusHandler>();
  constructor(readonly instanceId: string, private readonly broker: LocalBroker) {}

  publish(envelope: Omit<BusEnvelope, "origin">): void {
    // Deliver asynchronously, as every real broker does, so no hub relies on re-entrancy.
    const full: BusEnvelope = { ...envelope, origin: this.instanceId };
    queueMicrotask(() => this.broker.deliver(full));
  }

  subscribe(handler: BusHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  receive(envelope: BusEnvelope): void {
    for (const handler of this.#handlers) handler(envelope);
  }

  close(): Promise<void> {
    this.#handlers.clear();
    this.broker.detach(this);
    return Promise.resolve();
  }
}
