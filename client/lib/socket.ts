/**
 * The only code that touches WebSocket: typed requests matched to replies by id,
 * push subscriptions, heartbeat, and reconnect with jittered exponential backoff.
 */
import { CLOSE_CODES, type ErrorCode, shouldReconnect } from "../../protocol/errors.ts";
import { decodeServerData } from "../../protocol/frames.ts";
import { HEARTBEAT, PROTOCOL_VERSIONS } from "../../protocol/limits.ts";
import type {
  PushFrame,
  RequestBody,
  RequestType,
  ResultOf,
  ServerFrame,
} from "../../protocol/messages.ts";

export type ConnectionStatus =
  /** `retrying` once a connection was lost or an attempt failed: the user sees "reconnecting". */
  | { state: "connecting"; retrying: boolean }
  | { state: "connected" }
  /** `retryAt` is null when the client will not reconnect on its own. */
  | { state: "offline"; retryAt: number | null; closeCode: number | null };

/** Codes the client adds for failures that never reached the server. */
export type ClientErrorCode = "timeout" | "disconnected";

/** A request that failed: a protocol error reply, a timeout, or a lost connection. */
export class RequestError extends Error {
  readonly code: ErrorCode | ClientErrorCode;
  readonly retryAfterMs: number | undefined;
  /** With `forbidden`: the permission the user lacks. */
  readonly permission: string | undefined;
  constructor(
    code: ErrorCode | ClientErrorCode,
    message: string,
    retryAfterMs?: number,
    permission?: string,
  ) {
    super(message);
    this.name = "RequestError";
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    this.permission = permission;
  }
}

export interface SocketOptions {
  url: string;
  requestTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** A ping is sent after this much silence from the server. */
  heartbeatMs?: number;
  /**
   * A ping unanswered this long drops the connection, and so does a connection not open
   * and greeted this long after it was started: the link is dead, so reconnect.
   */
  heartbeatTimeoutMs?: number;
  /** Runs after each accepted `hello`, before queued callers see "connected". */
  onReady?: (hello: ResultOf<"hello">) => void | Promise<void>;
}

type PushType = PushFrame["type"];
type PushOf<K extends PushType> = Extract<PushFrame, { type: K }>;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: RequestError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const MAX_REQUEST_ID = 2 ** 31 - 1;

const HELLO_CLOSE_CODES: Partial<Record<string, number>> = {
  unsupported_version: CLOSE_CODES.unsupportedVersion,
  unauthorized: CLOSE_CODES.unauthorized,
};

export class ParleySocket {
  readonly #opts: Required<Omit<SocketOptions, "onReady">> & Pick<SocketOptions, "onReady">;
  #ws: WebSocket | null = null;
  #ready = false;
  #stopped = false;
  #nextId = 1;
  #attempt = 0;
  #pending = new Map<number, Pending>();
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  #openTimer: ReturnType<typeof setTimeout> | undefined;
  /** A connection was lost, or an attempt failed, since the last accepted `hello`. */
  #retrying = false;
  #status: ConnectionStatus = { state: "offline", retryAt: null, closeCode: null };
  #statusListeners = new Set<(status: ConnectionStatus) => void>();
  #pushListeners = new Map<PushType, Set<(frame: PushFrame) => void>>();

  constructor(options: SocketOptions) {
    this.#opts = {
      requestTimeoutMs: 10_000,
      backoffMinMs: 500,
      backoffMaxMs: 10_000,
      heartbeatMs: HEARTBEAT.intervalMs,
      heartbeatTimeoutMs: HEARTBEAT.timeoutMs,
      ...options,
    };
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  /** Calls `listener` on every status change; returns the unsubscribe function. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  on<K extends PushType>(type: K, listener: (frame: PushOf<K>) => void): () => void {
    let set = this.#pushListeners.get(type);
    if (!set) this.#pushListeners.set(type, set = new Set());
    const untyped = listener as (frame: PushFrame) => void;
    set.add(untyped);
    return () => set.delete(untyped);
  }

  connect(): void {
    this.#stopped = false;
    clearTimeout(this.#reconnectTimer);
    if (this.#ws) return;
    this.#setStatus({ state: "connecting", retrying: this.#retrying });
    const ws = new WebSocket(this.#opts.url);
    this.#ws = ws;
    // A dead network may neither open nor fail a socket for minutes: give up on it sooner.
    this.#openTimer = setTimeout(() => {
      if (this.#ws === ws && !this.#ready) this.#drop(ws);
    }, this.#opts.heartbeatTimeoutMs);
    ws.onopen = () => this.#handshake(ws);
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") this.#receive(ev.data);
      this.#armHeartbeat();
    };
    ws.onclose = (ev) => this.#closed(ws, ev.code);
  }

  /** Skip the remaining backoff, e.g. when the user clicks "retry now" or the browser goes online. */
  retryNow(): void {
    if (!this.#stopped && !this.#ws) {
      this.#attempt = 0;
      this.connect();
    }
  }

  /** Close for good; no reconnect. */
  close(): void {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    if (ws) {
      ws.close(CLOSE_CODES.normal);
      this.#closed(ws, CLOSE_CODES.normal);
    } else this.#setStatus({ state: "offline", retryAt: null, closeCode: CLOSE_CODES.normal });
  }

  request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<ResultOf<T>> {
    if (!this.#ready || !this.#ws) {
      return Promise.reject(new RequestError("disconnected", "Not connected."));
    }
    return this.#send(this.#ws, type, body);
  }

  #send<T extends RequestType>(
    ws: WebSocket,
    type: T,
    body: RequestBody<T>,
    timeoutMs = this.#opts.requestTimeoutMs,
  ): Promise<ResultOf<T>> {
    const id = this.#nextId;
    this.#nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return new Promise<ResultOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RequestError("timeout", "The server did not answer in time."));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      ws.send(JSON.stringify({ ...body, type, id }));
    });
  }

  async #handshake(ws: WebSocket): Promise<void> {
    let hello: ResultOf<"hello">;
    try {
      hello = await this.#send(ws, "hello", { v: [...PROTOCOL_VERSIONS] });
    } catch (err) {
      // Report a refused hello as the close code the server would use, so the caller
      // learns why and `shouldReconnect` decides as for a server-side close.
      const code = err instanceof RequestError ? HELLO_CLOSE_CODES[err.code] : undefined;
      this.#drop(ws, code);
      return;
    }
    if (this.#ws !== ws) return;
    this.#ready = true;
    this.#retrying = false;
    this.#attempt = 0;
    clearTimeout(this.#openTimer);
    this.#armHeartbeat();
    try {
      await this.#opts.onReady?.(hello);
    } finally {
      if (this.#ws === ws) this.#setStatus({ state: "connected" });
    }
  }

  #receive(data: string): void {
    let frames: ServerFrame[];
    try {
      frames = decodeServerData(data);
    } catch {
      return; // A server bug must not take the client down; the request will time out.
    }
    for (const frame of frames) {
      if (frame.type === "reply") this.#settle(frame);
      else this.#pushListeners.get(frame.type)?.forEach((listener) => listener(frame));
    }
  }

  #settle(frame: Extract<ServerFrame, { type: "reply" }>): void {
    const pending = this.#pending.get(frame.id);
    if (!pending) return;
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if ("error" in frame) {
      const { code, message, retryAfterMs, permission } = frame.error;
      pending.reject(new RequestError(code as ErrorCode, message, retryAfterMs, permission));
    } else pending.resolve(frame.ok);
  }

  #armHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer);
    if (!this.#ready) return;
    const ws = this.#ws;
    this.#heartbeatTimer = setTimeout(() => {
      if (!ws || this.#ws !== ws) return;
      this.#send(ws, "ping", {}, this.#opts.heartbeatTimeoutMs).catch((err: RequestError) => {
        // A dead link or a half-open TCP connection never fires `close`; give up on it ourselves.
        if (err.code === "timeout") this.#drop(ws);
      });
    }, this.#opts.heartbeatMs);
  }

  /** Close `ws` without waiting for its `close` event, which may never come. */
  #drop(ws: WebSocket, code: number = CLOSE_CODES.goingAway): void {
    ws.close();
    this.#closed(ws, code);
  }

  #closed(ws: WebSocket, code: number): void {
    if (this.#ws !== ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.#ws = null;
    this.#ready = false;
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#openTimer);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RequestError("disconnected", "The connection was lost."));
    }
    this.#pending.clear();
    if (this.#stopped || !shouldReconnect(code)) {
      this.#stopped = true;
      this.#retrying = false;
      this.#setStatus({ state: "offline", retryAt: null, closeCode: code });
      return;
    }
    this.#retrying = true;
    const delay = backoffDelay(this.#attempt++, this.#opts.backoffMinMs, this.#opts.backoffMaxMs);
    this.#reconnectTimer = setTimeout(() => this.connect(), delay);
    this.#setStatus({ state: "offline", retryAt: Date.now() + delay, closeCode: code });
  }

  #setStatus(status: ConnectionStatus): void {
    this.#status = status;
    for (const listener of this.#statusListeners) listener(status);
  }
}

/** Exponential backoff from `minMs` doubling to `maxMs`, with ±50% jitter so clients spread out. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.5 + Math.random()));
}
