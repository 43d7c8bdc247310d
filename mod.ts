/**
 * Parley as a library: build the whole chat server (web client, WebSocket protocol,
 * accounts, history) and mount its fetch handler wherever you serve HTTP.
 *
 * ```ts
 * const chat = await createChatServer({ data: ":memory:", branding: { title: "Team" } });
 * const page = await chat.fetch(new Request("http://localhost/"));
 * console.assert(page.status === 200);
 * await page.body?.cancel();
 * await chat.close();
 * ```
 *
 * @module
 */
import { renderPage } from "./client/page.tsx";
import type { Features } from "./protocol/messages.ts";
import type { Branding } from "./protocol/page.ts";
import type { ServerRole } from "./protocol/permissions.ts";
import { createApp } from "./server/app.ts";
import { bundleClient, embeddedAssets } from "./server/assets.ts";
import { Accounts, type Registration } from "./server/auth/accounts.ts";
import { type JwtOptions, JwtVerifier } from "./server/auth/jwt.ts";
import { LocalBroker } from "./server/bus/local.ts";
import type { Bus } from "./server/bus/types.ts";
import { MEMORY_DATA, type StoreSpec } from "./server/config.ts";
import { openFileStore, openStore as openStoreSpec } from "./server/parts.ts";
import { MemoryFileStore } from "./server/files/memory.ts";
import type { FileStore } from "./server/files/types.ts";
import type { Presence } from "./server/presence/types.ts";
import type { RateLimiter } from "./server/rate/types.ts";
import type { CustomFrame, Hooks, SlashCommand } from "./server/extensions.ts";
import type { Handler } from "./server/http.ts";
import type { Hub } from "./server/hub.ts";
import { createLogger, type Logger, type LogLevel } from "./server/log.ts";
import type { Store } from "./server/store/types.ts";
import { CLOSE_CODES } from "./protocol/errors.ts";
import { CONNECTIONS, RATES } from "./protocol/limits.ts";

export { defineCommand, defineFrame } from "./server/extensions.ts";
export type {
  CommandContext,
  CommandResult,
  CustomFrame,
  FrameContext,
  HookUser,
  PresenceEvent,
  Refusal,
  SendDraft,
  SlashCommand,
} from "./server/extensions.ts";
export type { Hooks };
export { Accounts };
export { AuthError } from "./server/auth/types.ts";
export { createLogger };
export type { Logger, LogLevel };
export type { Bus, FileStore, Hub, Presence, RateLimiter, Store };
export { openParts, type Parts, StartupError } from "./server/parts.ts";
export type { Member, Message, RoomInfo } from "./protocol/messages.ts";

/** A user that the application's own `authenticate` function vouches for. */
export interface AppUser {
  /** The application's id for the user; Parley's id is `app:<id>`. */
  id: string;
  name: string;
  role?: ServerRole;
}

export interface ChatServerOptions {
  /** Data directory for the Deno KV store, or ":memory:" to keep nothing. Default "./data". */
  data?: string;
  /** A Store of your own; overrides `data`. */
  store?: Store;
  /**
   * Where uploaded files live. By default beside the store: `data`/files on disk, or memory
   * for ":memory:" and for a `store` of your own (`openParts` gives the matching one).
   */
  files?: FileStore;
  /** A Bus of your own, to fan out across processes; in-process by default. */
  bus?: Bus;
  /** Cluster-wide presence (`openParts` makes a Redis one); this process alone by default. */
  presence?: Presence;
  /** Cluster-wide rate limits (`openParts` makes a Redis one); this process's by default. */
  limiter?: RateLimiter;
  auth?: {
    /** Who may register built-in accounts: "open" (default), "invite" or "closed". */
    registration?: Registration;
    /** Admit visitors as read-mostly guests. Off by default. */
    guests?: boolean;
    /** log2 of scrypt's N for new password hashes; 17 by default. */
    passwordCost?: number;
    /** Accept JWTs for your application's users. */
    jwt?: JwtOptions;
    /**
     * Your own mapping from a request to a user (a cookie of your application, say):
     * tried before Parley's own credentials; null passes to them.
     */
    authenticate?: (request: Request) => Promise<AppUser | null>;
  };
  limits?: {
    messageRate?: { perSecond: number; burst: number };
    frameRate?: { perSecond: number; burst: number };
    roomRate?: { perSecond: number; burst: number };
    /** Bytes a slow client may have pending before it is dropped. */
    maxBufferedBytes?: number;
    /** Open WebSockets per client address on this process (256); 0 lifts the cap. */
    socketsPerIp?: number;
    /** Open WebSockets per user on this process (32); 0 lifts the cap. */
    socketsPerUser?: number;
    /** WebSocket upgrades per client address, across the cluster (10/s, burst 50). */
    upgradeRate?: { perSecond: number; burst: number };
    /** Most entries replayed to a reconnecting client. */
    recoveryMax?: number;
    retention?: { maxAgeDays?: number; maxCount?: number };
    /** Longest a hook may run before the request fails with `internal`. */
    hookTimeoutMs?: number;
    /** Longest `close()` waits for the requests in flight to be answered; 10 s by default. */
    drainTimeoutMs?: number;
    /** The largest file a user may upload, in bytes (10 MiB); 0 refuses uploads. */
    uploadBytes?: number;
  };
  /** Switch features off; all are on by default. */
  features?: Partial<Omit<Features, "guests">>;
  /** Title, accent colour (CSS) and logo (same-origin or data: URL) of the web client. */
  branding?: Partial<Branding>;
  /** Where you mount the handler, e.g. "/chat"; requests outside it get 404. */
  basePath?: string;
  /** Hooks around connecting, joining, sending and presence; several run in order. */
  hooks?: Hooks | Hooks[];
  /** Your own frame types, "x.app.action", each with a schema and a handler. */
  frames?: CustomFrame[];
  /** Slash commands besides /me, /topic, /invite, /kick, /ban, /mute, /leave, /help. */
  commands?: SlashCommand[];
  /** Origins besides the server's own that may open WebSockets; "*" allows any. */
  allowedOrigins?: string[];
  /**
   * The URLs browsers reach the server at, e.g. ["https://chat.example.com"]: requests for
   * other host names are refused (421, against DNS rebinding), and these origins may open
   * sockets and change state. Addresses (localhost, IP literals) are always answered.
   */
  publicUrls?: string[];
  /**
   * Behind a reverse proxy: take each client's address from the X-Forwarded-For the proxy
   * appends (its last hop), so login throttling is per client, not per proxy.
   */
  trustProxy?: boolean;
  /** A logger, or the level for the built-in one (stderr). */
  log?: Logger | LogLevel;
  /**
   * A full, memory-reducing garbage collection, settling when done: with one, the server
   * runs it once after a storm of connections, when nothing but heartbeats has arrived for
   * a second and the heap has grown well past what it holds live, so that memory goes back
   * to the system within seconds. server.ts passes V8's `gc` (from `--v8-flags=--expose-gc`,
   * which `V8_FLAGS` has); without one, V8 collects on its own schedule.
   */
  collectGarbage?: () => Promise<void> | void;
}

export interface ChatServer {
  /** Mount this in `Deno.serve`, Hono or Oak: `(request, info) => Response`. */
  fetch: Handler;
  hub: Hub;
  store: Store;
  files: FileStore;
  accounts: Accounts;
  /**
   * Stop reading, answer every request already read (within `limits.drainTimeoutMs`), then
   * close every socket (they are told to reconnect) and release the store. Idempotent.
   */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * Build a Parley server. Its `fetch` serves the web page, the JSON API and the
 * WebSocket at `/ws`, all under `basePath`.
 *
 * ```ts
 * // Refuse links from guests, and shout nothing.
 * const chat = await createChatServer({
 *   data: ":memory:",
 *   hooks: {
 *     beforeSend(message, { user }) {
 *       if (user.role === "guest" && /https?:/.test(message.text)) {
 *         return Promise.resolve({ refuse: "Guests cannot post links." });
 *       }
 *       return Promise.resolve({ text: message.text.replace(/!{2,}/g, "!") });
 *     },
 *   },
 * });
 * await chat.close();
 * ```
 */
export async function createChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const log = typeof options.log === "object" ? options.log : createLogger(options.log ?? "info");
  const data = options.data ?? "./data";
  const store = options.store ?? await openStore(data);
  const files = options.files ??
    (options.store || data === MEMORY_DATA
      ? new MemoryFileStore()
      : await openFileStore({ kind: "kv", dir: data }));
  const auth = options.auth ?? {};
  const accounts = new Accounts({
    store,
    ...(auth.registration ? { registration: auth.registration } : {}),
    ...(auth.passwordCost === undefined ? {} : { passwordCost: auth.passwordCost }),
  });
  const limits = options.limits ?? {};
  const messages = limits.messageRate ?? RATES.messages;
  const assets = embeddedAssets() ?? await bundleClient(
    new URL("./client/main.tsx", import.meta.url),
    new URL("./client/styles.css", import.meta.url),
  );
  const app = await createApp({
    store,
    files,
    ...(limits.uploadBytes === undefined ? {} : { uploadBytes: limits.uploadBytes }),
    bus: options.bus ?? new LocalBroker().connect(),
    ...(options.presence ? { presence: options.presence } : {}),
    ...(options.limiter ? { limiter: options.limiter } : {}),
    assets,
    renderPage,
    accounts,
    jwt: auth.jwt ? await JwtVerifier.create(auth.jwt) : null,
    ...(auth.authenticate ? { authenticate: auth.authenticate } : {}),
    guests: auth.guests ?? false,
    log,
    ...(options.branding ? { branding: options.branding } : {}),
    ...(options.features ? { features: options.features } : {}),
    ...(options.basePath ? { basePath: options.basePath } : {}),
    hooks: options.hooks === undefined ? [] : [options.hooks].flat(),
    ...(limits.hookTimeoutMs === undefined ? {} : { hookTimeoutMs: limits.hookTimeoutMs }),
    ...(limits.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: limits.drainTimeoutMs }),
    frames: options.frames ?? [],
    commands: options.commands ?? [],
    allowedOrigins: options.allowedOrigins ?? [],
    publicUrls: options.publicUrls ?? [],
    trustProxy: options.trustProxy ?? false,
    ...(limits.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: limits.maxBufferedBytes }),
    connections: {
      socketsPerIp: limits.socketsPerIp ?? CONNECTIONS.socketsPerIp,
      socketsPerUser: limits.socketsPerUser ?? CONNECTIONS.socketsPerUser,
      upgrades: limits.upgradeRate ?? CONNECTIONS.upgrades,
    },
    ...(limits.retention ? { retention: limits.retention } : {}),
    ...(limits.recoveryMax === undefined ? {} : { recoveryMax: limits.recoveryMax }),
    session: { rates: { frames: limits.frameRate ?? RATES.frames } },
    ...(options.collectGarbage ? { collectGarbage: options.collectGarbage } : {}),
    budgets: {
      messages,
      roomCreates: limits.roomRate ?? RATES.roomCreates,
      // Guests post at a tenth of members' rate, with a fifth of the burst.
      guestMessages: {
        perSecond: messages.perSecond / 10,
        burst: Math.max(1, Math.floor(messages.burst / 5)),
      },
    },
  });
  return {
    fetch: app.handler,
    hub: app.hub,
    store,
    files,
    accounts,
    close: (code = CLOSE_CODES.serviceRestart, reason = "server restarting") =>
      app.close(code, reason),
  };
}

/** Deno KV in the data directory, memory for ":memory:", or the store a spec names. */
export async function openStore(data: string | StoreSpec): Promise<Store> {
  if (typeof data !== "string") return await openStoreSpec(data);
  return await openStoreSpec(data === MEMORY_DATA ? { kind: "memory" } : { kind: "kv", dir: data });
}
