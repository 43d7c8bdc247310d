/**
 * Redis pub/sub Bus, after Centrifuge's Redis broker. Each room has a channel
 * (`<prefix>:room:<name>`) that this node subscribes to only while it watches the room;
 * server-wide envelopes, envelopes for one user and controls go on `<prefix>:all`, which
 * every node subscribes to. Envelopes travel as JSON; one publishing connection keeps
 * them in publish order.
 *
 * `status` is "down" as soon as either connection is lost, and "up" once both are back and
 * the subscriber is subscribed again to `all` and to every watched room. Redis pub/sub
 * keeps nothing, so envelopes published meanwhile are lost; the hub resyncs on "up".
 */
import type { Bus, BusEnvelope, BusHandler, BusStatus } from "./types.ts";
import { BusError } from "./types.ts";
import {
  closeRedis,
  createRedis,
  DEFAULT_PREFIX,
  redactUrl,
  type Redis,
  RedisUnavailableError,
} from "../redis/client.ts";

export interface RedisBusOptions {
  /** Namespace of the channels, so that several deployments can share one Redis. */
  prefix?: string;
  instanceId?: string;
  /** How long `connect` waits for Redis at start-up. */
  connectTimeoutMs?: number;
  /** A command connection to publish on, shared with others and not closed by the bus. */
  client?: Redis;
}

/** How often an idle subscriber checks that Redis still answers (a silent network loss). */
const HEALTH_CHECK_MS = 1000;

export class RedisBus implements Bus {
  readonly lossy = true;
  readonly instanceId: string;
  readonly #prefix: string;
  readonly #all: string;
  readonly #publisher: Redis;
  readonly #ownsPublisher: boolean;
  readonly #subscriber: Redis;
  readonly #handlers = new Set<BusHandler>();
  readonly #statusListeners = new Set<(status: BusStatus) => void>();
  /** Rooms watched, whether or not the link is up: all are subscribed again on reconnect. */
  readonly #watched = new Set<string>();
  readonly #healthCheck: ReturnType<typeof setInterval>;
  #status: BusStatus = "down";
  /** The subscriber is ready and our SUBSCRIBEs go out on it (even before "up"). */
  #linked = false;
  /** `all` and every watched room are subscribed on the current subscriber connection. */
  #subscribed = false;
  readonly #onPublisherChange = () => this.#updateStatus();
  /** Counts subscriber connections, so replies from a lost one change nothing. */
  #epoch = 0;
  #closed = false;

  /** Connect to Redis (e.g. "redis://127.0.0.1:6379"); rejects when it cannot in time. */
  static async connect(url: string, options: RedisBusOptions = {}): Promise<RedisBus> {
    const bus = new RedisBus(url, options);
    try {
      await bus.#started(url, options.connectTimeoutMs ?? 5000);
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  private constructor(url: string, options: RedisBusOptions) {
    this.instanceId = options.instanceId ?? crypto.randomUUID();
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#all = `${this.#prefix}:all`;
    this.#ownsPublisher = options.client === undefined;
    this.#publisher = options.client ?? createRedis(url, { name: `${this.#prefix}-bus-pub` });
    // We subscribe again ourselves on reconnect, so that "up" means every room is live.
    this.#subscriber = createRedis(url, {
      name: `${this.#prefix}-bus-sub`,
      autoResubscribe: false,
    });
    this.#subscriber.on("ready", () => this.#onReady());
    this.#subscriber.on("close", () => this.#onLost());
    this.#subscriber.on("message", (channel: string, text: string) => this.#receive(channel, text));
    this.#publisher.on("ready", this.#onPublisherChange);
    this.#publisher.on("close", this.#onPublisherChange);
    this.#healthCheck = setInterval(() => this.#checkHealth(), HEALTH_CHECK_MS);
  }

  get status(): BusStatus {
    return this.#status;
  }

  /**
   * Resolves once Redis took the PUBLISH. Rejects at once while the link is down, and after
   * the command timeout when Redis stalls: such an envelope may still have gone out.
   */
  async publish(envelope: Omit<BusEnvelope, "origin">): Promise<void> {
    if (this.#closed) throw new BusError("the bus is closed");
    const full: BusEnvelope = { ...envelope, origin: this.instanceId };
    const toAll = full.room === null || full.toUser !== undefined || full.control !== undefined;
    const channel = toAll ? this.#all : this.#roomChannel(full.room!);
    try {
      await this.#publisher.publish(channel, JSON.stringify(full));
    } catch (error) {
      throw new BusError(`redis publish failed: ${message(error)}`, { cause: error });
    }
  }

  subscribe(handler: BusHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /**
   * Resolves once Redis confirmed the SUBSCRIBE. While the link is down it records the
   * room and resolves at once: the room is subscribed on reconnect, before "up".
   */
  async watch(room: string): Promise<void> {
    if (this.#closed) throw new BusError("the bus is closed");
    this.#watched.add(room);
    if (!this.#linked) return;
    try {
      await this.#subscriber.subscribe(this.#roomChannel(room));
    } catch (error) {
      // A lost link subscribes it again on reconnect; anything else is a real failure.
      if (this.#subscriber.status === "ready") {
        throw new BusError(`redis subscribe failed: ${message(error)}`, { cause: error });
      }
    }
  }

  async unwatch(room: string): Promise<void> {
    if (!this.#watched.delete(room) || !this.#linked) return;
    // Failing only when the link is lost, and then the new one will not subscribe it.
    await this.#subscriber.unsubscribe(this.#roomChannel(room)).catch(() => {});
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#healthCheck);
    this.#handlers.clear();
    this.#statusListeners.clear();
    this.#linked = false;
    this.#publisher.off("ready", this.#onPublisherChange);
    this.#publisher.off("close", this.#onPublisherChange);
    await Promise.all([
      closeRedis(this.#subscriber),
      this.#ownsPublisher ? closeRedis(this.#publisher) : undefined,
    ]);
  }

  #roomChannel(room: string): string {
    return `${this.#prefix}:room:${room}`;
  }

  /** A (re)connected subscriber: subscribe everything, then say "up". */
  async #onReady(): Promise<void> {
    if (this.#closed) return;
    const epoch = ++this.#epoch;
    this.#linked = true;
    // Rooms watched from here on are subscribed by `watch` itself, after this command.
    const channels = [this.#all, ...[...this.#watched].map((room) => this.#roomChannel(room))];
    try {
      await this.#subscriber.subscribe(...channels);
    } catch {
      // The link was lost again (its "close" follows) or Redis refused: try a new one.
      if (epoch === this.#epoch && this.#subscriber.status === "ready") {
        this.#subscriber.disconnect(true);
      }
      return;
    }
    if (epoch !== this.#epoch || !this.#linked) return;
    this.#subscribed = true;
    this.#updateStatus();
  }

  #onLost(): void {
    this.#linked = false;
    this.#subscribed = false;
    this.#epoch++;
    this.#updateStatus();
  }

  /** Events arrive a tick late, so this reads the connections' state as it is now. */
  #updateStatus(): void {
    const up = this.#subscribed && this.#subscriber.status === "ready" &&
      this.#publisher.status === "ready";
    const status: BusStatus = up ? "up" : "down";
    if (this.#closed || this.#status === status) return;
    this.#status = status;
    for (const listener of [...this.#statusListeners]) listener(status);
  }

  /** Both connections ready and everything subscribed, or a RedisUnavailableError. */
  #started(url: string, timeoutMs: number): Promise<void> {
    const clients = [this.#publisher, this.#subscriber];
    let lastError = "";
    const onError = (error: Error) => lastError = error.message;
    for (const client of clients) client.on("error", onError);
    let stop = () => {};
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = lastError ? ` (${lastError})` : "";
        reject(
          new RedisUnavailableError(`redis: no bus on ${redactUrl(url)} in ${timeoutMs} ms${why}`),
        );
      }, timeoutMs);
      stop = this.onStatus((status) => {
        if (status !== "up") return;
        clearTimeout(timer);
        resolve();
      });
    }).finally(() => {
      stop();
      for (const client of clients) client.off("error", onError);
    });
  }

  #receive(channel: string, text: string): void {
    let envelope: BusEnvelope;
    try {
      envelope = JSON.parse(text);
    } catch {
      return; // Not ours: someone else publishes on our prefix.
    }
    // An UNSUBSCRIBE in flight still lets the room's last envelopes through.
    if (channel !== this.#all && !this.#watched.has(envelope.room ?? "")) return;
    for (const handler of [...this.#handlers]) handler(envelope);
  }

  /** A ping that goes unanswered drops the link, so that a silent loss still reads "down". */
  #checkHealth(): void {
    if (!this.#linked) return;
    const epoch = this.#epoch;
    this.#subscriber.ping().catch(() => {
      if (epoch === this.#epoch && this.#subscriber.status === "ready") {
        this.#subscriber.disconnect(true);
      }
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
