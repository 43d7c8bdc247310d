/**
 * A client that recovers the way the protocol intends: it remembers, per room, the last
 * seq it has seen without a gap, re-joins with `after` and `epoch` when its socket
 * drops, and resends unacknowledged messages with their original nonces.
 */
import type { Message } from "../protocol/messages.ts";
import { signIn, TestClient } from "./helpers.ts";

export interface OutboxItem {
  room: string;
  text: string;
  nonce: string;
}

export class RecoveringClient {
  /** room -> seq -> entry */
  readonly timeline = new Map<string, Map<number, Message>>();
  readonly outbox = new Map<string, OutboxItem>();
  /** nonce -> seq, for every message the server acknowledged to us */
  readonly acked = new Map<string, number>();
  reconnects = 0;
  recoveredJoins = 0;
  resets = 0;
  #client: TestClient | null = null;
  #epoch: string | undefined;
  #nonce = 0;

  private constructor(
    /** Where `connect` goes; a test moves it when its server dies. */
    public server: { url: string; wsUrl: string },
    private readonly identity: { cookie: string; user: { id: string; name: string } },
    private readonly rooms: string[],
  ) {}

  static async create(server: { url: string; wsUrl: string }, name: string, rooms: string[]) {
    return new RecoveringClient(server, await signIn(server, name), rooms);
  }

  /** Who this client is signed in as. */
  get user(): { id: string; name: string } {
    return this.identity.user;
  }

  get connected(): boolean {
    return this.#client?.socket.readyState === WebSocket.OPEN;
  }

  /** The highest seq with every entry up to it present. */
  lastSeq(room: string): number {
    const entries = this.timeline.get(room);
    let seq = 0;
    while (entries?.has(seq + 1)) seq++;
    return seq;
  }

  /** Connect (or reconnect), recover every room, then resend the outbox. */
  async connect(): Promise<void> {
    const client = await TestClient.open(this.server, this.identity, { hello: false });
    client.onPush = (frame) => {
      if (frame.type === "message") this.#apply(frame.message);
    };
    this.#client = client;
    const hello = await client.request("hello", { v: [1] });
    if (this.#epoch !== undefined && hello.epoch !== this.#epoch) {
      this.timeline.clear();
      this.resets++;
    }
    for (const room of this.rooms) {
      const after = this.lastSeq(room);
      const known = this.#epoch !== undefined;
      const join = await client.request(
        "room.join",
        known ? { room, after, epoch: this.#epoch! } : { room },
      );
      if (join.recovered === false) {
        this.resets++;
        this.timeline.delete(room);
      } else if (join.recovered) this.recoveredJoins++;
      for (const entry of join.messages) this.#apply(entry);
      // Below a reset page, fetch everything older so the timeline is whole again.
      await this.#fillFrom(room, 0);
    }
    this.#epoch = hello.epoch;
    if (this.reconnects++ > 0 || this.outbox.size > 0) {
      await Promise.allSettled([...this.outbox.values()].map((item) => this.#send(item)));
    }
  }

  /** Queue a message and try to send it now; it stays in the outbox until acknowledged. */
  send(room: string, text: string): Promise<void> {
    const item = { room, text, nonce: `${this.identity.user.id}-${++this.#nonce}-nonce` };
    this.outbox.set(item.nonce, item);
    return this.#send(item);
  }

  /** Resend what is still unacknowledged, with the original nonces. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.outbox.values()].map((item) => this.#send(item)));
  }

  /** Drop the socket abruptly, as a flaky network would. */
  drop(): void {
    this.#client?.socket.close();
  }

  async close(): Promise<void> {
    await this.#client?.close();
  }

  async #send(item: OutboxItem): Promise<void> {
    const client = this.#client;
    if (!client || client.socket.readyState !== WebSocket.OPEN) return;
    try {
      const { message } = await client.request("send", item);
      this.acked.set(item.nonce, message.seq);
      this.outbox.delete(item.nonce);
      this.#apply(message);
    } catch {
      // Dropped before the ack: the outbox keeps it for the resend.
    }
  }

  /** Fetch entries missing below the contiguous prefix, page by page. */
  async #fillFrom(room: string, from: number): Promise<void> {
    let after = Math.max(from, this.lastSeq(room));
    for (;;) {
      const page = await this.#client!.request("history", { room, after, limit: 100 });
      for (const entry of page.messages) this.#apply(entry);
      if (!page.hasMore || page.messages.length === 0) return;
      after = page.messages.at(-1)!.seq;
    }
  }

  #apply(entry: Message): void {
    let entries = this.timeline.get(entry.room);
    if (!entries) this.timeline.set(entry.room, entries = new Map());
    const seen = entries.get(entry.seq);
    if (seen && seen.id !== entry.id) throw new Error(`seq ${entry.seq} names two entries`);
    entries.set(entry.seq, entry);
  }
}
