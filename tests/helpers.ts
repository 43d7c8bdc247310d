/** Test support: a real server on port 0, and a small client that speaks the protocol. */
import { decodeServerData } from "../protocol/frames.ts";
import type { RequestBody, RequestType, ResultOf, ServerFrame } from "../protocol/messages.ts";
import { PROTOCOL_VERSIONS } from "../protocol/limits.ts";
import { compose } from "../server.ts";
import type { ChatServer } from "../mod.ts";
import { type Config, storeSpec } from "../server/config.ts";
import { createLogger } from "../server/log.ts";

export interface TestServer {
  app: ChatServer;
  url: string;
  wsUrl: string;
  port: number;
  close(): Promise<void>;
}

export const TEST_CONFIG: Config = {
  port: 0,
  hostname: "127.0.0.1",
  data: ":memory:",
  store: { kind: "memory" },
  bus: { kind: "local" },
  presenceTtlMs: 30_000,
  allowedOrigins: [],
  publicUrls: [],
  title: "Parley",
  // The command line's defaults: tests that need more sockets say so.
  socketsPerIp: 256,
  socketsPerUser: 32,
  upgradeRate: { perSecond: 10, burst: 50 },
  maxBufferedBytes: 1024 * 1024,
  logLevel: "silent",
  retention: {},
  recoveryMax: 1000,
  messageRate: { perSecond: 5, burst: 15 },
  frameRate: { perSecond: 30, burst: 60 },
  roomRate: { perSecond: 0.2, burst: 5 },
  registration: "open",
  guests: false,
  jwt: { rolesClaim: "roles" },
  // Same scrypt, cheaper N: tests register hundreds of accounts. The CLI test checks 17.
  passwordCost: 12,
  trustProxy: false,
  createAdmin: null,
  drainTimeoutMs: 10_000,
};

/** The admin account every test server starts with, as `--create-admin` would make it. */
export const ROOT = { username: "root", password: "root-correct-horse-battery" };

/** Start the real composition (store, bus, client bundle) on 127.0.0.1, port 0 unless given. */
export async function startServer(
  overrides: Partial<Config> = {},
  { admin = true }: { admin?: boolean } = {},
): Promise<TestServer> {
  const config = { ...TEST_CONFIG, ...overrides };
  // A test that names a data directory means Deno KV there, as --data does.
  config.store = overrides.store ?? storeSpec("", config.data);
  const app = await compose(config, createLogger(config.logLevel));
  // Without it, the first user a test signs in would be the server admin.
  if (admin && !(await app.accounts.byName(ROOT.username))) {
    await app.accounts.register(ROOT, { asAdmin: true });
  }
  const server = Deno.serve(
    { port: config.port, hostname: "127.0.0.1", onListen() {} },
    app.fetch,
  );
  const port = server.addr.port;
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    async close() {
      await app.close();
      await server.shutdown();
    },
  };
}

/** A password that passes the policy, derived from the username. */
export function passwordFor(name: string): string {
  return `${name}-correct-horse-battery`;
}

/**
 * Register `name` (or log in, if it exists) through the HTTP API; returns the session
 * cookie and the user.
 */
export async function signIn(
  server: { url: string },
  name: string,
): Promise<{ cookie: string; user: { id: string; name: string } }> {
  const post = (path: string) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ username: name, password: passwordFor(name) }),
    });
  let response = await post("/api/register");
  if (response.status === 409) {
    await response.body?.cancel();
    response = await post("/api/login");
  }
  if (response.status !== 200 && response.status !== 201) {
    throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  }
  const { user } = await response.json();
  const setCookie = response.headers.get("set-cookie") ?? "";
  return { cookie: setCookie.split(";")[0]!, user };
}

export class RequestFailed extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

type Waiter = {
  match: (f: ServerFrame) => boolean;
  resolve: (f: ServerFrame) => void;
  reject: (e: Error) => void;
};

/** A protocol client over a real WebSocket, recording every frame it receives. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  /** WebSocket messages that carried more than one frame (coalesced). */
  batches = 0;
  /** Called with every push frame as it arrives. */
  onPush: ((frame: ServerFrame) => void) | null = null;
  readonly closed: Promise<CloseEvent>;
  #nextId = 1;
  #waiters: Waiter[] = [];

  private constructor(readonly socket: WebSocket, public user: { id: string; name: string }) {
    socket.onmessage = (event) => {
      const frames = decodeServerData(event.data as string);
      if (frames.length > 1) this.batches++;
      for (const frame of frames) {
        this.frames.push(frame);
        if (frame.type !== "reply") this.onPush?.(frame);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.match(frame)) return true;
          w.resolve(frame);
          return false;
        });
      }
    };
    this.closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    // A dropped socket answers nothing more: fail whoever waits, at once.
    socket.addEventListener("close", () => {
      for (const waiter of this.#waiters) waiter.reject(new Error("socket closed"));
      this.#waiters = [];
    });
  }

  /** Sign in as `name`, open the socket and (unless told not to) say hello. */
  static async connect(
    server: { url: string; wsUrl: string },
    name: string,
    options: { hello?: boolean; origin?: string } = {},
  ): Promise<TestClient> {
    return await TestClient.open(server, await signIn(server, name), options);
  }

  /** Open a socket for an identity already signed in (to reconnect as the same user). */
  static async open(
    server: { url: string; wsUrl: string },
    { cookie, user }: { cookie: string; user: { id: string; name: string } },
    options: { hello?: boolean; origin?: string } = {},
  ): Promise<TestClient> {
    const socket = new WebSocket(server.wsUrl, {
      headers: { cookie, origin: options.origin ?? server.url },
    } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("WebSocket failed to open"));
    });
    const client = new TestClient(socket, user);
    if (options.hello !== false) await client.request("hello", { v: [...PROTOCOL_VERSIONS] });
    return client;
  }

  /** Say hello on a socket that is already open; the user is whoever the server says. */
  static async wrap(socket: WebSocket): Promise<TestClient> {
    const client = new TestClient(socket, { id: "", name: "" });
    client.user = (await client.request("hello", { v: [...PROTOCOL_VERSIONS] })).user;
    return client;
  }

  /** Send a typed request and wait for its reply. */
  async request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<ResultOf<T>> {
    const reply = await this.requestRaw({ type, ...body });
    if ("error" in reply) throw new RequestFailed(reply.error.code, reply.error.message);
    return reply.ok as ResultOf<T>;
  }

  /** Send any object (even an invalid one) with a fresh id; resolve with the reply frame. */
  requestRaw(frame: Record<string, unknown>): Promise<Extract<ServerFrame, { type: "reply" }>> {
    const id = this.#nextId++;
    if (this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("socket closed"));
    }
    const reply = this.next((f) => f.type === "reply" && f.id === id);
    this.socket.send(JSON.stringify({ ...frame, id }));
    return reply as Promise<Extract<ServerFrame, { type: "reply" }>>;
  }

  /** Wait for the next frame (received from now on) that matches. */
  next(match: (f: ServerFrame) => boolean, timeoutMs = 5000): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Frames received so far of one push type. */
  pushes<T extends ServerFrame["type"]>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f) => f.type === type) as Extract<ServerFrame, { type: T }>[];
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close();
    await this.closed;
  }
}

/** Send a raw HTTP/1.1 WebSocket upgrade and return the response status code. */
export async function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const target = new URL(url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  try {
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    const buffer = new Uint8Array(1024);
    const n = await conn.read(buffer);
    const statusLine = new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0]!;
    return Number(statusLine.split(" ")[1]);
  } finally {
    conn.close();
  }
}

/** Poll until `check` returns true, or fail after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
