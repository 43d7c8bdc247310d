/**
 * A WebSocket as a hub Connection, with frame coalescing and backpressure.
 *
 * Deno pays per WebSocket frame, so frames that pile up while the socket is busy go
 * out together as one JSON array. An idle socket sends at once, which keeps latency
 * low; only what arrives while bytes are still buffered waits for the next task.
 * Deno queues `send()` without limit, so past `maxBufferedBytes` the connection is
 * dropped with a code that tells the client to reconnect and recover from history.
 */
import { CLOSE_CODES } from "../protocol/errors.ts";
import { encodeBatch } from "../protocol/frames.ts";
import type { Member } from "../protocol/messages.ts";
import type { Connection } from "./hub.ts";

export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

export class WebSocketConnection implements Connection {
  readonly id: string = crypto.randomUUID();
  #queue: string[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;

  constructor(
    private readonly socket: WebSocket,
    readonly user: Member,
    private readonly maxBufferedBytes: number = DEFAULT_MAX_BUFFERED_BYTES,
  ) {}

  send(data: string): void {
    const socket = this.socket;
    if (socket.readyState !== WebSocket.OPEN) return;
    if (this.#queue.length === 0 && socket.bufferedAmount === 0) {
      socket.send(data);
      return;
    }
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (socket.bufferedAmount + this.#queuedBytes > this.maxBufferedBytes) {
      this.close(CLOSE_CODES.slowConsumer, "slow consumer");
      return;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setTimeout(this.#flush, 0);
    }
  }

  close(code: number, reason: string): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    if (this.socket.readyState === WebSocket.OPEN) {
      // Flush nothing more: a closing peer must recover from history anyway.
      this.socket.close(code, reason);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.socket.readyState !== WebSocket.OPEN) return;
    const batch = encodeBatch(this.#queue);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.socket.send(batch);
  };
}
