/**
 * The load generator's protocol client. It speaks Parley's real protocol (a JWT on the
 * upgrade, hello, room.create/join, acknowledged sends) but stays cheap on the hot path: a
 * delivery is counted by finding `"type":"message"` in the WebSocket message, and a
 * send's ack by its id after `"type":"reply","id":`; only control replies and errors
 * are parsed as JSON. One generator core must outrun one server core.
 */

import { SignJWT } from "jose";

export interface Endpoint {
  url: string;
  wsUrl: string;
  /**
   * Parley's HS256 secret (its `--jwt-secret`): clients then bring a JWT minted here in
   * `Authorization: Bearer`. Without it (the baselines), POST /api/session and a cookie.
   */
  jwtSecret?: string;
}

export interface Identity {
  /** Headers for the WebSocket upgrade. */
  headers: Record<string, string>;
  /** The upgrade URL, with whatever the server needs in its query. */
  wsUrl: string;
  user: { id: string; name: string };
}

const MESSAGE = '"type":"message"';
const REPLY = '"type":"reply"';
const REPLY_ID = '"type":"reply","id":';
const OPEN_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 15_000;

/** Counters shared by every client of a run, and a wake-up for whoever waits on them. */
export class Tally {
  delivered = 0;
  acked = 0;
  rateLimited = 0;
  errors = 0;
  #target = Infinity;
  #wake: (() => void) | null = null;

  /** Resolve once `delivered` reaches `target` (or at once if it already has). */
  until(target: number): Promise<void> {
    if (this.delivered >= target) return Promise.resolve();
    this.#target = target;
    return new Promise((resolve) => (this.#wake = resolve));
  }

  /** Give up waiting (time is up); the waiter resolves and checks the count itself. */
  release(): void {
    this.#target = Infinity;
    this.#wake?.();
    this.#wake = null;
  }

  count(n: number): void {
    this.delivered += n;
    if (this.delivered >= this.#target) this.release();
  }
}

/** A random HS256 secret for one run (64 hex characters; Parley wants at least 32). */
export function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One imported HMAC key per secret: thousands of clients sign with the same one. */
const signingKeys = new Map<string, Promise<CryptoKey>>();

function signingKey(secret: string): Promise<CryptoKey> {
  let key = signingKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    signingKeys.set(secret, key);
  }
  return key;
}

/**
 * An identity for the client `sub`, named `name`. With a JWT secret (Parley), a token is
 * minted locally, as the application that owns the users would: no request, no password
 * hash (scrypt would cost the server ~0.4 s per account). Otherwise POST /api/session.
 */
export async function signIn(endpoint: Endpoint, sub: string, name: string): Promise<Identity> {
  if (endpoint.jwtSecret) {
    const token = await new SignJWT({ sub, name })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("2h")
      .sign(await signingKey(endpoint.jwtSecret));
    return {
      headers: { authorization: `Bearer ${token}`, origin: endpoint.url },
      wsUrl: endpoint.wsUrl,
      user: { id: `jwt:${sub}`, name },
    };
  }
  const response = await fetch(`${endpoint.url}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: endpoint.url },
    body: JSON.stringify({ name }),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`sign-in failed: HTTP ${response.status}`);
  }
  const { user } = await response.json() as { user: Identity["user"] };
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0]!;
  return {
    headers: { cookie, origin: endpoint.url },
    wsUrl: `${endpoint.wsUrl}?uid=${encodeURIComponent(user.id)}`,
    user,
  };
}

type Reply = { type: "reply"; id: number; ok?: Record<string, unknown>; error?: ErrorBody };
type ErrorBody = { code: string; message: string; retryAfterMs?: number };

export class RequestError extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

export class BenchClient {
  /** Called with every WebSocket message, for scenarios that read more than counts. */
  onData: ((data: string) => void) | null = null;
  /** The server instance that answered hello (under `deno serve --parallel`: its worker). */
  instance = "";
  readonly closed: Promise<void>;
  #nextId = 1;
  readonly #control = new Map<
    number,
    { resolve: (ok: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  /** Sends awaiting their ack: id -> the frame after its id, to resend when rate-limited. */
  readonly #sends = new Map<number, string>();
  #retry: string[] = [];
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly socket: WebSocket,
    readonly index: number,
    readonly user: Identity["user"],
    private readonly tally: Tally,
  ) {
    socket.onmessage = (event) => this.#receive(event.data as string);
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", () => {
        clearTimeout(this.#retryTimer);
        for (const waiter of this.#control.values()) waiter.reject(new Error("socket closed"));
        this.#control.clear();
        resolve();
      });
    });
  }

  /** Open the socket for `identity` and say hello. */
  static async connect(
    identity: Identity,
    index: number,
    tally: Tally,
  ): Promise<BenchClient> {
    const socket = new WebSocket(identity.wsUrl, {
      headers: identity.headers,
    } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error("WebSocket did not open in time"));
      }, OPEN_TIMEOUT_MS);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      socket.onerror = (event) => {
        clearTimeout(timer);
        reject(new Error(`WebSocket failed to open: ${(event as ErrorEvent).message ?? ""}`));
      };
    });
    socket.onerror = () => {};
    const client = new BenchClient(socket, index, identity.user, tally);
    const hello = await client.request("hello", { v: [1] });
    if (typeof hello.instance === "string") client.instance = hello.instance;
    return client;
  }

  /** A control request (hello, room.create, room.join): parsed, awaited, bounded in time. */
  request(type: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#control.delete(id);
        reject(new Error(`${type}: no reply within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.#control.set(id, {
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.send(JSON.stringify({ type, id, ...body }));
    });
  }

  /** Create `room`; losing the race to another client is fine. */
  async createRoom(room: string): Promise<void> {
    try {
      await this.request("room.create", { room });
    } catch (error) {
      if (!(error instanceof RequestError && error.code === "room_exists")) throw error;
    }
  }

  /** A pipelined send: returns at once; the ack is counted when it arrives. */
  send(room: string, text: string, nonce: string): void {
    // Our rooms, texts and nonces need no escaping; build the frame without JSON.stringify.
    this.#sendTail(`,"room":"${room}","text":"${text}","nonce":"${nonce}"}`);
  }

  /** Sends not yet acknowledged (including those waiting to be retried). */
  get unacked(): number {
    return this.#sends.size + this.#retry.length;
  }

  close(): void {
    clearTimeout(this.#retryTimer);
    this.#retry = [];
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close();
  }

  #sendTail(tail: string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const id = this.#nextId++;
    this.#sends.set(id, tail);
    this.socket.send(`{"type":"send","id":${id}${tail}`);
  }

  #receive(data: string): void {
    let n = 0;
    for (let i = data.indexOf(MESSAGE); i !== -1; i = data.indexOf(MESSAGE, i + MESSAGE.length)) {
      n++;
    }
    if (n > 0) this.tally.count(n);
    this.onData?.(data);
    if (data.includes(REPLY)) this.#replies(data);
  }

  /** Settle acks by id; anything else (control replies, errors) takes the parsing path. */
  #replies(data: string): void {
    let slow = false;
    let i = data.indexOf(REPLY_ID);
    if (i === -1) slow = true;
    while (i !== -1) {
      let j = i + REPLY_ID.length;
      let id = 0;
      for (let c = data.charCodeAt(j); c >= 48 && c <= 57; c = data.charCodeAt(++j)) {
        id = id * 10 + c - 48;
      }
      if (data.startsWith(',"ok"', j) && this.#sends.delete(id)) {
        this.tally.acked++;
        if (this.#retry.length > 0) this.#scheduleRetry(0);
      } else {
        slow = true;
      }
      i = data.indexOf(REPLY_ID, j);
    }
    if (slow) this.#parseReplies(data);
  }

  #parseReplies(data: string): void {
    const value = JSON.parse(data) as Reply | Reply[];
    for (const frame of Array.isArray(value) ? value : [value]) {
      if (frame.type !== "reply") continue;
      const control = this.#control.get(frame.id);
      if (control) {
        this.#control.delete(frame.id);
        if (frame.error) control.reject(new RequestError(frame.error.code, frame.error.message));
        else control.resolve(frame.ok ?? {});
        continue;
      }
      const tail = this.#sends.get(frame.id);
      if (tail === undefined || !frame.error) continue;
      this.#sends.delete(frame.id);
      if (frame.error.code === "rate_limited") {
        // Resend it later, one at a time, so the round still completes.
        this.tally.rateLimited++;
        this.#retry.push(tail);
        this.#scheduleRetry(frame.error.retryAfterMs ?? 50);
      } else {
        this.tally.errors++;
      }
    }
  }

  #scheduleRetry(ms: number): void {
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const tail = this.#retry.shift();
      if (tail !== undefined) this.#sendTail(tail);
    }, ms);
  }
}

/** Run `task(i)` for i in [0, n) with at most `concurrency` in flight; fail fast. */
export async function pool<T>(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}
