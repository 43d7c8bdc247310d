/** In-process Bus: hubs sharing one LocalBroker see each other's broadcasts. */
import type { Bus, BusEnvelope } from "./types.ts";
import { InProcessBus } from "./in_process.ts";

export class LocalBroker {
  readonly #buses = new Set<LocalBus>();

  /** A Bus endpoint for one hub instance. */
  connect(instanceId: string = crypto.randomUUID()): Bus {
    const bus = new LocalBus(instanceId, this);
    this.#buses.add(bus);
    return bus;
  }

  deliver(envelope: BusEnvelope): void {
    for (const bus of this.#buses) bus.take(envelope);
  }

  detach(bus: LocalBus): void {
    this.#buses.delete(bus);
  }
}

class LocalBus extends InProcessBus {
  constructor(instanceId: string, private readonly broker: LocalBroker) {
    super(instanceId);
  }

  publish(envelope: Omit<BusEnvelope, "origin">): void {
    // Deliver asynchronously, as every real broker does, so no hub relies on re-entrancy.
    const full: BusEnvelope = { ...envelope, origin: this.instanceId };
    queueMicrotask(() => this.broker.deliver(full));
  }

  take(envelope: BusEnvelope): void {
    this.receive(envelope);
  }

  override close(): Promise<void> {
    this.broker.detach(this);
    return super.close();
  }
}
