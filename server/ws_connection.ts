/**
 * A WebSocket as a hub Connection, with frame coalescing and backpressure.
 *
 * Deno pays per WebSocket frame, so everything a connection is due within one task (a
 * group commit's broadcasts, say) goes out together as one JSON array, flushed in a
 * microtask at the end of that task: no timer delay, and no per-frame op calls.
 * Deno queues `send()` without limit, so while the socket holds more than
 * `maxBufferedBytes` unsent, new frames wait here instead; once that wait passes the
 * same limit, or lasts too long, the connection is dropped with a code that tells the
 * client to reconnect and recover from history.
 */
import { CLOSE_CODES } from "../protocol/errors.ts";
import type { Member } from "../protocol/messages.ts";
import type { Principal } from "./auth/types.ts";
import type { Connection } from "./hub.ts";
import { FlushScheduler } from "./flush_scheduler.ts";

export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** How often a held queue re-checks the socket, and how long a peer may stall. */
const RECHECK_MS = 25;
/** The longest coalesced frame, in UTF-16 code units; a longer burst is split. */
const MAX_FRAME_CHARS = 64 * 1024;
const MAX_STALL_MS = 30_000;
/** How often `flushed()` looks whether the socket has written everything. */
const FLUSHED_POLL_MS = 2;

export class WebSocketConnection implements Connection {
  readonly id: string = crypto.randomUUID();
  #queue: string[] = [];
  #queuedBytes = 0;
  #recheckScheduled = false;
  #stalledSince = 0;
  #released = false;

  /**
   * `onClose` runs as soon as the server decides to close, not when the close handshake
   * ends: a peer that never reads never answers it, and must not be held until it does.
   */
  readonly user: Member;

  constructor(
    private readonly socket: WebSocket,
    readonly principal: Principal,
    private readonly maxBufferedBytes: number = DEFAULT_MAX_BUFFERED_BYTES,
    private readonly onClose: () => void = () => {},
    /** Shared by a server's connections, so one microtask flushes them all. */
    private readonly scheduler: FlushScheduler = new FlushScheduler(),
  ) {
    this.user = principal.user;
  }

  send(data: string): void {
    if (this.#released) return;
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    // Only a queue held back by a full socket counts against the peer; one big reply does not.
    if (this.#stalledSince && this.#queuedBytes > this.maxBufferedBytes) {
      this.close(CLOSE_CODES.slowConsumer, "slow consumer");
      return;
    }
    this.scheduler.schedule(this);
  }

  close(code: number, reason: string): void {
    // What this task queued (often the error that explains the close) goes first, unless
    // the peer is the problem: a stalled one must recover from history anyway.
    if (!this.#stalledSince && this.#queue.length > 0) this.flush();
    this.#queue = [];
    this.#queuedBytes = 0;
    this.scheduler.forget(this);
    if (this.socket.readyState === WebSocket.OPEN) {
      try {
        this.socket.close(code, reason);
      } catch {
        // already gone: nothing to say to it
      }
    }
    this.#release();
  }

  /**
   * Settles once everything queued here has been written out, the socket went away, or
   * the peer stalled (it must recover from history anyway, as `close` says). Shutdown
   * waits for this before it closes: the last replies are then written before the close
   * frame is even queued, whatever order Deno's writes would take.
   */
  async flushed(): Promise<void> {
    this.flush();
    while (
      !this.#released && !this.#stalledSince && this.socket.readyState === WebSocket.OPEN &&
      (this.#queue.length > 0 || this.socket.bufferedAmount > 0)
    ) {
      await new Promise((resolve) => setTimeout(resolve, FLUSHED_POLL_MS));
    }
  }

  /** Send what is queued as one frame, unless the socket is still over its limit. */
  flush(): void {
    if (this.#queue.length === 0) return;
    if (this.socket.readyState !== WebSocket.OPEN) {
      // The peer went away; its close event will release us. Keep nothing for it meanwhile.
      this.#queue = [];
      this.#queuedBytes = 0;
      return;
    }
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      // The peer is not reading; hold our frames rather than grow Deno's queue.
      const now = Date.now();
      this.#stalledSince ||= now;
      if (now - this.#stalledSince > MAX_STALL_MS) {
        this.close(CLOSE_CODES.slowConsumer, "slow consumer");
      } else if (!this.#recheckScheduled) {
        this.#recheckScheduled = true;
        setTimeout(() => {
          this.#recheckScheduled = false;
          this.flush();
        }, RECHECK_MS);
      }
      return;
    }
    this.#stalledSince = 0;
    const queue = this.#queue;
    const chars = this.#queuedBytes;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (queue.length === 1) this.#write(queue[0]!);
    else if (chars <= MAX_FRAME_CHARS) this.#write(this.scheduler.join(queue));
    else {
      // A burst goes out in frames of at most MAX_FRAME_CHARS: strings that size die
      // young, where one huge string per recipient would sit in V8's large-object space
      // until a full collection.
      let start = 0;
      let run = 0;
      for (let i = 0; i < queue.length; i++) {
        run += queue[i]!.length;
        if (run > MAX_FRAME_CHARS && i > start) {
          this.#write(this.scheduler.join(queue.slice(start, i)));
          start = i;
          run = queue[i]!.length;
        }
      }
      this.#write(this.scheduler.join(queue.slice(start)));
    }
  }

  /**
   * Deno can report OPEN for a socket whose peer is already gone, and then `send` throws.
   * That must not abort the caller's broadcast to everyone else: treat it as closed.
   */
  #write(data: string): void {
    try {
      this.socket.send(data);
    } catch {
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#release();
    }
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.onClose();
  }
}
