/** Wires the hub, session and HTTP layers from dependencies chosen by the composition root. */
import type { Bus } from "./bus/types.ts";
import { Drain } from "./drain.ts";
import { ExpiryWatch } from "./expiry_watch.ts";
import { FlushScheduler } from "./flush_scheduler.ts";
import { MemoryPresenceRegistry } from "./presence/memory.ts";
import type { Presence } from "./presence/types.ts";
import { MemoryRateLimiter } from "./rate/memory.ts";
import type { RateLimiter } from "./rate/types.ts";
import type { Budgets } from "./commands/shared.ts";
import { type AssetSource, makeAssets } from "./assets.ts";
import { Hub } from "./hub.ts";
import { createHttpHandler, type Handler, type PageRenderer, type RouteExtension } from "./http.ts";
import { type Accounts, memberOf } from "./auth/accounts.ts";
import { type AppAuthenticate, Authenticator } from "./auth/authenticator.ts";
import type { JwtVerifier } from "./auth/jwt.ts";
import type { UserDirectory } from "./hub.ts";
import type { Logger } from "./log.ts";
import type { SessionOptions } from "./session.ts";
import type { Store } from "./store/types.ts";
import { CLOSE_CODES } from "../protocol/errors.ts";
import type { Features, Retention } from "../protocol/messages.ts";
import type { Branding } from "../protocol/page.ts";
import { botApi } from "./api/bots.ts";
import { builtinCommands } from "./commands/slash.ts";
import { Webhooks } from "./webhooks.ts";
import {
  compileFrames,
  type CustomFrame,
  type Extensions,
  HookRunner,
  type Hooks,
  type SlashCommand,
} from "./extensions.ts";
import { DEFAULT_MAX_BUFFERED_BYTES } from "./ws_connection.ts";
import type { AdmissionLimits } from "./ws_admission.ts";
import type { FileStore } from "./files/types.ts";
import { FileRoutes } from "./files/routes.ts";
import { type CollectGarbage, IdleGc } from "./idle_gc.ts";

export interface AppOptions {
  store: Store;
  bus: Bus;
  /** Uploaded files' bytes; without one the server takes no uploads. */
  files?: FileStore;
  /** The largest upload in bytes (0: none); DEFAULT_UPLOAD_BYTES when absent. */
  uploadBytes?: number;
  /** Cluster-wide presence; this instance alone when absent. */
  presence?: Presence;
  /** Cluster-wide message, room and API budgets; this instance's when absent. */
  limiter?: RateLimiter;
  /** The per-user budgets spent from `limiter`. */
  budgets?: Partial<Budgets>;
  assets: AssetSource;
  renderPage: PageRenderer;
  accounts: Accounts;
  /** Verifies JWTs from an embedding application; null accepts none. */
  jwt?: JwtVerifier | null;
  /** Admit visitors without an account as guests. */
  guests?: boolean;
  /** The application's own request -> user mapping, tried first. */
  authenticate?: AppAuthenticate;
  log: Logger;
  /** Title, accent colour and logo of the web client. */
  branding?: Partial<Branding>;
  /** Features to switch off (all on by default; guests follow `guests`). */
  features?: Partial<Omit<Features, "guests">>;
  /** Mount point inside a larger application, e.g. "/chat". */
  basePath?: string;
  /** The application's hooks, run in order. */
  hooks?: Hooks[];
  /** Longest a hook may run before the request fails with `internal`. */
  hookTimeoutMs?: number;
  /** The application's own frame types ("x.…"). */
  frames?: CustomFrame[];
  /** Slash commands besides the built-in ones (a same-named one replaces the built-in). */
  commands?: SlashCommand[];
  /** Extra HTTP routes under /api/ (the bot API, webhooks). */
  extensions?: RouteExtension[];
  /** Take the client's address from X-Forwarded-For (behind a reverse proxy). */
  trustProxy?: boolean;
  allowedOrigins?: string[];
  /** The server's public URLs: other host names are refused (421); addresses always served. */
  publicUrls?: string[];
  maxBufferedBytes?: number;
  /** Open sockets per address and per user, and upgrades per address; CONNECTIONS if absent. */
  connections?: AdmissionLimits;
  session?: Omit<SessionOptions, "log">;
  /** Server-wide retention for rooms without their own. */
  retention?: Retention;
  recoveryMax?: number;
  /** How often retention runs; 0 disables the timer (tests call hub.sweep()). */
  sweepIntervalMs?: number;
  /** Longest `close` waits for the requests in flight to be answered (10 s). */
  drainTimeoutMs?: number;
  /** A full, memory-reducing collection, run once a connect storm is over (see IdleGc). */
  collectGarbage?: CollectGarbage;
}

export interface App {
  handler: Handler;
  hub: Hub;
  accounts: Accounts;
  /**
   * Stop reading frames, answer every request already read (committing what they send)
   * and write the answers out, then close every socket with `code` and release the store
   * and bus. Calling it again returns the same promise.
   */
  close(code?: number, reason?: string): Promise<void>;
}

const CLOSE_GRACE_MS = 2000;
export const DEFAULT_UPLOAD_BYTES = 10 * 1024 * 1024;
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
const DEFAULT_SWEEP_MS = 10 * 60 * 1000;

/** Rooms a fresh server starts with, so the first visitor has somewhere to talk. */
const DEFAULT_ROOMS = [{ name: "general", topic: "Say hello" }];

export async function createApp(options: AppOptions): Promise<App> {
  const { store, bus } = options;
  if ((await store.listRooms()).length === 0) {
    for (const room of DEFAULT_ROOMS) await store.createRoom({ ...room, createdBy: "system" });
  }
  const retention = options.retention && Object.keys(options.retention).length
    ? options.retention
    : undefined;
  const accounts = options.accounts;
  const extensions = compileExtensions(options);
  const presence = options.presence ?? new MemoryPresenceRegistry().connect(bus.instanceId);
  const limiter = options.limiter ?? new MemoryRateLimiter();
  const files = options.files;
  const hub = new Hub({
    store,
    bus,
    // `send {file}` checks that the file was uploaded to the room by the sender.
    ...(files ? { files } : {}),
    presence,
    limiter,
    ...(options.budgets ? { budgets: options.budgets } : {}),
    stillValid: async (principal) => {
      if (principal.session !== undefined) return await accounts.sessionLive(principal.session);
      const account = await accounts.get(principal.user.id);
      return !account?.disabled;
    },
    onError: (what, error) => options.log.warn(`${what} failed`, { error }),
    directory: accountDirectory(accounts),
    hooks: extensions.hooks,
    features: extensions.features,
    ...(retention ? { retention } : {}),
    ...(options.recoveryMax === undefined ? {} : { recoveryMax: options.recoveryMax }),
  });
  // A deleted room's files go with it (on every instance: the FileStore is shared).
  if (files) {
    hub.onRoomDeleted((room) =>
      files.deleteRoom(room).catch((error) =>
        options.log.error("deleting a room's files failed", { room, error })
      )
    );
  }
  const webhooks = new Webhooks({ store, log: options.log, hub });
  const stopWebhooks = hub.onCommit((message) => webhooks.onCommit(message));
  const sweepEvery = options.sweepIntervalMs ?? DEFAULT_SWEEP_MS;
  const sweeper = sweepEvery > 0
    ? setInterval(() => {
      hub.sweep().catch((error) => options.log.error("retention sweep failed", { error }));
    }, sweepEvery)
    : undefined;
  const drain = new Drain();
  const idleGc = options.collectGarbage
    ? new IdleGc({ collect: options.collectGarbage, log: options.log })
    : undefined;
  const uploadBytes = files ? options.uploadBytes ?? DEFAULT_UPLOAD_BYTES : 0;
  // The browser's file routes, and the same upload and download for the bot API.
  const fileRoutes = files
    ? new FileRoutes({ hub, files, maxBytes: uploadBytes, limiter, log: options.log })
    : undefined;
  const http = createHttpHandler({
    hub,
    auth: new Authenticator(
      accounts,
      options.jwt ?? null,
      options.guests ?? false,
      options.authenticate,
    ),
    assets: await makeAssets(options.assets),
    renderPage: options.renderPage,
    branding: { ...options.branding, title: options.branding?.title ?? "Parley" },
    features: extensions.features,
    ...(options.basePath ? { basePath: options.basePath } : {}),
    extensions: [
      botApi({
        hub,
        accounts,
        store,
        log: options.log,
        limiter,
        ...(fileRoutes ? { files: fileRoutes } : {}),
      }),
      webhooks.routes(),
      ...options.extensions ?? [],
    ],
    ...(fileRoutes ? { files: (request, context) => fileRoutes.route(request, context) } : {}),
    hooks: extensions.hooks,
    trustProxy: options.trustProxy ?? false,
    allowedOrigins: options.allowedOrigins ?? [],
    publicUrls: options.publicUrls ?? [],
    maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
    ...(options.connections ? { connections: options.connections } : {}),
    limiter,
    flushes: new FlushScheduler(),
    log: options.log,
    session: {
      ...options.session,
      extensions,
      expiry: new ExpiryWatch(),
      drain,
      uploadBytes,
      ...(idleGc ? { activity: idleGc } : {}),
    },
  });
  let closing: Promise<void> | undefined;
  async function shutDown(code: number, reason: string): Promise<void> {
    clearInterval(sweeper);
    idleGc?.stop();
    // Stop reading; what was read is answered (committed first) and written out.
    const drained = await drain.run(options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    if (drained.timedOut) options.log.warn("drain timed out", { ...drained });
    else options.log.info("drained", { ...drained });
    hub.close(code, reason);
    // Deliveries still queued are dropped: webhooks are at-most-once across a restart.
    stopWebhooks();
    await webhooks.close();
    // Let the close frames reach the clients before the listener goes away.
    await http.closeAll(code, reason, CLOSE_GRACE_MS);
    // The store commits what is queued first; those commits still broadcast on the bus.
    await store.close();
    await files?.close();
    await hub.settled();
    await presence.close();
    await limiter.close();
    await bus.close();
  }
  return {
    handler: http.handler,
    hub,
    accounts,
    close(code = CLOSE_CODES.serviceRestart, reason = "server restarting") {
      return closing ??= shutDown(code, reason);
    },
  };
}

/** The hub finds users among the accounts (local, guest and JWT users alike). */
function accountDirectory(accounts: Accounts): UserDirectory {
  const entry = (account: Awaited<ReturnType<Accounts["get"]>>) =>
    account && !account.disabled ? { user: memberOf(account), role: account.role } : null;
  return {
    get: async (id) => entry(await accounts.get(id)),
    byName: async (name) => entry(await accounts.byName(name)),
  };
}

function compileExtensions(options: AppOptions): Extensions {
  const commands = new Map<string, SlashCommand>();
  const list = () => [...commands.values()];
  for (const command of [...builtinCommands(list), ...options.commands ?? []]) {
    commands.set(command.name, command);
  }
  return {
    hooks: new HookRunner(options.hooks ?? [], options.log, options.hookTimeoutMs),
    frames: compileFrames(options.frames ?? []),
    commands,
    features: {
      directMessages: options.features?.directMessages ?? true,
      receipts: options.features?.receipts ?? true,
      edits: options.features?.edits ?? true,
      guests: options.guests ?? false,
    },
  };
}
