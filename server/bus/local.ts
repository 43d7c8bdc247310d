/** In-process Bus: hubs sharing one LocalBroker see each other's broadcasts. */
import type { Bus, BusEnvelope, BusHandler, BusStatus } from "./types.ts";
import { WatchedRooms } from "./watched.ts";

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
  readonly #watched = new WatchedRooms();
  readonly status: BusStatus = "up";
  readonly lossy = false;
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

  watch(room: string): Promise<void> {
    return this.#watched.add(room);
  }

  unwatch(room: string): Promise<void> {
    return this.#watched.delete(room);
  }

  onStatus(): () => void {
    return () => {};
  }

  receive(envelope: BusEnvelope): void {
    if (!this.#watched.wants(envelope)) return;
    for (const handler of this.#handlers) handler(envelope);
  }

  close(): Promise<void> {
    this.#handlers.clear();
    this.broker.detach(this);
    return Promise.resolve();
  }
}
