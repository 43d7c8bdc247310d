/**
 * HTTP routes: the server-rendered page, hashed assets, the protocol schema, the
 * account and admin API, health and metrics, and the `/ws` upgrade (Origin and
 * credentials are checked before any WebSocket is opened).
 */
import { FlushScheduler } from "./flush_scheduler.ts";
import { protocolJsonSchema } from "../protocol/schema.ts";
import type { Features } from "../protocol/messages.ts";
import type { Branding, PageProps } from "../protocol/page.ts";
import type { Asset, ClientAssets } from "./assets.ts";
import { CLOSE_CODES, ProtocolError } from "../protocol/errors.ts";
import { HEARTBEAT } from "../protocol/limits.ts";
import { type Account, memberOf } from "./auth/accounts.ts";
import {
  type Authenticator,
  bearerToken,
  readCookie,
  SESSION_COOKIE,
  sessionCookie,
} from "./auth/authenticator.ts";
import { AuthError, type Principal } from "./auth/types.ts";
import type { Hub } from "./hub.ts";
import { type HookRunner, hookUser } from "./extensions.ts";
import type { Logger } from "./log.ts";
import { Session, type SessionOptions } from "./session.ts";
import { WebSocketConnection } from "./ws_connection.ts";
import { isJsonMediaType, readBody, unsupportedMediaType } from "./body.ts";
import { json } from "./reply.ts";
import { OriginPolicy, type OriginVerdict } from "./origins.ts";
import type { RateLimiter } from "./rate/types.ts";
import { MemoryRateLimiter } from "./rate/memory.ts";
import { type AdmissionLimits, type Lease, SocketAdmission } from "./ws_admission.ts";
import { CONNECTIONS } from "../protocol/limits.ts";
import { isFilePath, takesBytes } from "./files/routes.ts";
import {
  EmptyBody,
  LoginBody,
  LogoutBody,
  RegisterBody,
  RoomPatch,
  UserPatch,
} from "./api/account_schemas.ts";

export { json };

/** Renders the HTML document; the composition root passes the client's renderer in. */
export type PageRenderer = (props: PageProps) => string;

/**
 * Extra routes, such as the bot API and webhook administration: answer with a Response,
 * or null to let the next route try. `principal` resolves the caller's session or token.
 */
export type RouteExtension = (
  request: Request,
  context: { path: string; ip: string; principal: () => Promise<Principal | null> },
) => Promise<Response | null>;

export interface HttpOptions {
  hub: Hub;
  extensions?: RouteExtension[];
  /**
   * Uploads and downloads (`/api/rooms/:room/files`, `/files/…`): their bodies are bytes,
   * so they are routed before the JSON-only check, after the Origin check.
   */
  files?: RouteExtension;
  auth: Authenticator;
  assets: ClientAssets;
  renderPage: PageRenderer;
  branding: Branding;
  features: Features;
  /** Mount point inside a larger application, e.g. "/chat"; "" at the root. */
  basePath?: string;
  /** Runs `onConnect` before a socket opens. */
  hooks?: HookRunner;
  /**
   * Behind a reverse proxy every request comes from the proxy's address; trust the
   * X-Forwarded-For it appends instead, so login limits apply per real client.
   */
  trustProxy?: boolean;
  allowedOrigins: string[];
  /**
   * The server's public URLs: requests for other host names are refused (421), and their
   * origins may call in. Addresses (localhost, IP literals) are always answered.
   */
  publicUrls?: string[];
  maxBufferedBytes: number;
  /** Open sockets per address and per user, and upgrades per address (CONNECTIONS). */
  connections?: AdmissionLimits;
  /** Where upgrade attempts are counted (the cluster's, with Redis); this process's if absent. */
  limiter?: RateLimiter;
  /** Flushes every socket's queued frames at the end of a task; one per server. */
  flushes?: FlushScheduler;
  log: Logger;
  session?: Omit<SessionOptions, "log">;
}

/** Deno pings a socket silent for half of this, and closes it if it stays silent to the end. */
const IDLE_TIMEOUT_S = (HEARTBEAT.intervalMs + HEARTBEAT.timeoutMs) / 1000;

/** `info` gives the peer's address, for per-address login limits. */
export type Handler = (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;

export interface HttpLayer {
  handler: Handler;
  /** Close every WebSocket, handshaken or not, and wait up to `graceMs` for them to go. */
  closeAll(code: number, reason: string, graceMs: number): Promise<void>;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; " +
    "frame-ancestors 'none'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()",
};
/** Answered whatever the Host: probes and scrapers use names of their own. */
const HOST_FREE_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);
/** Colours only: a hex value, a name, or an rgb()/hsl() of plain numbers. */
const CSS_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|(rgb|hsl)a?\([0-9.,%\s]+\))$/;

export function createHttpHandler(options: HttpOptions): HttpLayer {
  const { hub, auth, assets, log } = options;
  const base = (options.basePath ?? "").replace(/\/+$/, "");
  const accounts = auth.accounts;
  const sockets = new Set<WebSocket>();
  const flushes = options.flushes ?? new FlushScheduler();
  let drained: (() => void) | undefined;
  const assetsByPath = new Map<string, Asset>([
    [assets.js.path, assets.js],
    [assets.css.path, assets.css],
  ]);
  let protocolJson: string | undefined;
  const origins = new OriginPolicy({
    publicUrls: options.publicUrls ?? [],
    allowedOrigins: options.allowedOrigins,
    trustProxy: options.trustProxy ?? false,
  });
  const misdirectedHosts = new Set<string>();
  const admission = new SocketAdmission(
    options.connections ?? CONNECTIONS,
    options.limiter ?? new MemoryRateLimiter(),
  );

  /**
   * Origin, for a request that changes state or opens a socket. Non-browser clients send
   * none, and need none; but when the session cookie is what signs the request in, it
   * came from a browser, which says where from.
   */
  function originVerdict(request: Request, { ticket = false } = {}): OriginVerdict {
    const cookie = readCookie(request.headers.get("cookie"), SESSION_COOKIE) !== undefined &&
      bearerToken(request) === undefined &&
      !(ticket && new URL(request.url).searchParams.has("ticket"));
    return origins.check(request, cookie);
  }

  function misdirected(request: Request): Response {
    const host = (origins.host(request) ?? "(malformed)").slice(0, 100);
    if (misdirectedHosts.size < 100 && !misdirectedHosts.has(host)) {
      misdirectedHosts.add(host);
      log.warn("request for a host this server does not answer for: 421 (see --public-url)", {
        host,
      });
    }
    return json(421, {
      error: {
        code: "misdirected_request",
        message: "This server does not answer for that host; its --public-url names the ones " +
          "it does.",
      },
    });
  }

  async function upgrade(request: Request, ip: string): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, { error: { code: "upgrade_required", message: "Use a WebSocket." } });
    }
    if (options.session?.drain?.started) {
      const error = { code: "unavailable", message: "The server is restarting; reconnect." };
      return json(503, { error }, { "retry-after": "1" });
    }
    const verdict = originVerdict(request, { ticket: true });
    if (verdict !== "ok") {
      admission.refuse("origin");
      log.warn("upgrade refused: origin", { origin: request.headers.get("origin"), verdict });
      return originRefused(verdict);
    }
    // Every attempt spends from the address's budget, failed ones too (ticket guesses).
    const wait = await admission.attempt(ip);
    if (wait > 0) {
      return json(429, {
        error: {
          code: "rate_limited",
          message: "Too many connection attempts from this address; retry later.",
          retryAfterMs: wait,
        },
      }, { "retry-after": String(Math.max(1, Math.ceil(wait / 1000))) });
    }
    const lease = admission.admit(ip);
    if (!lease) return tooManyConnections("This address has too many sockets open.");
    let response: Response | undefined;
    try {
      response = await openSocket(request, lease);
      return response;
    } finally {
      if (response?.status !== 101) lease.release();
    }
  }

  /** Past the address's limits: the credentials, the user's cap, the hooks, then the socket. */
  async function openSocket(request: Request, lease: Lease): Promise<Response> {
    const principal = await auth.fromRequest(request, { ticket: true });
    if (!principal) {
      admission.refuse("unauthorized");
      return json(401, {
        error: { code: "unauthorized", message: "Sign in, or bring a valid token or ticket." },
      });
    }
    if (!lease.forUser(principal.user.id)) {
      return tooManyConnections("You have too many sockets open; close some.");
    }
    if (options.hooks && !options.hooks.empty) {
      try {
        principal.fields = await options.hooks.onConnect(hookUser(principal), request);
      } catch (error) {
        const refused = error instanceof ProtocolError && error.code === "refused";
        return json(refused ? 403 : 500, {
          error: refused
            ? { code: "refused", message: error.message }
            : { code: "internal", message: "Internal error." },
        });
      }
    }
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: IDLE_TIMEOUT_S });
    const conn = new WebSocketConnection(
      socket,
      principal,
      options.maxBufferedBytes,
      () => session.closed(),
      flushes,
    );
    const session = new Session(conn, hub, {
      ...options.session,
      ...(auth.jwt ? { refresh: (token: string) => auth.fromJwt(token) } : {}),
      log,
    });
    socket.onmessage = (event) => session.receive(event.data);
    sockets.add(socket);
    socket.onclose = () => {
      lease.release();
      session.closed();
      sockets.delete(socket);
      if (sockets.size === 0) drained?.();
    };
    socket.onerror = () => {}; // onclose follows and cleans up
    admission.opened();
    return response;
  }

  function signedIn(request: Request, account: Account, token: string, status = 200): Response {
    return json(status, { user: memberOf(account), role: account.role }, {
      "set-cookie": sessionCookie(token, isSecure(request)),
    });
  }

  /** POST /api/register {username, password, invite?}: a new account, signed in. */
  async function register(request: Request): Promise<Response> {
    const body = await readBody(request, RegisterBody);
    if (!body.ok) return body.response;
    const account = await accounts.register(body.value);
    log.info("account registered", { user: account.id, role: account.role });
    return signedIn(request, account, await accounts.createSession(account.id), 201);
  }

  /** POST /api/login {username, password}: a browser session in an HttpOnly cookie. */
  async function login(request: Request, ip: string): Promise<Response> {
    // A body that is no request is answered 400 here, and never counts as a guess.
    const body = await readBody(request, LoginBody);
    if (!body.ok) return body.response;
    const account = await accounts.login(body.value.username, body.value.password, ip);
    return signedIn(request, account, await accounts.createSession(account.id));
  }

  /** POST /api/token {username, password}: a session token for bots and native clients. */
  async function issueToken(request: Request, ip: string): Promise<Response> {
    const body = await readBody(request, LoginBody);
    if (!body.ok) return body.response;
    const account = await accounts.login(body.value.username, body.value.password, ip);
    const token = await accounts.createSession(account.id);
    return json(200, { token, user: memberOf(account), role: account.role });
  }

  /** POST /api/logout [{everywhere: true}]: revoke this session, or all of them. */
  async function logout(request: Request): Promise<Response> {
    const body = await readBody(request, LogoutBody, { optional: true });
    if (!body.ok) return body.response;
    const principal = await auth.fromRequest(request);
    const clear = { "set-cookie": sessionCookie("", isSecure(request)) };
    if (!principal) return new Response(null, { status: 204, headers: clear });
    const userId = principal.user.id;
    if (body.value.everywhere === true) {
      await accounts.revokeAll(userId);
      hub.closeUser(userId, CLOSE_CODES.sessionRevoked, "signed out everywhere");
    } else {
      const token = bearerOrCookie(request);
      const revoked = token ? await accounts.revokeSession(token) : null;
      if (revoked) hub.closeUser(userId, CLOSE_CODES.sessionRevoked, "signed out", revoked);
    }
    return new Response(null, { status: 204, headers: clear });
  }

  async function guest(request: Request): Promise<Response> {
    const body = await readBody(request, EmptyBody, { optional: true });
    if (!body.ok) return body.response;
    if (!auth.guests) {
      return json(403, {
        error: { code: "guests_disabled", message: "This server does not admit guests." },
      });
    }
    const { account, token } = await accounts.guest();
    return signedIn(request, account, token, 201);
  }

  /** POST /api/ticket: a single-use, short-lived ticket to open one WebSocket (?ticket=). */
  async function ticket(request: Request, principal: Principal): Promise<Response> {
    const body = await readBody(request, EmptyBody, { optional: true });
    if (!body.ok) return body.response;
    return json(200, await accounts.issueTicket(principal));
  }

  async function me(request: Request): Promise<Response> {
    const principal = await auth.fromRequest(request);
    const modes = { registration: accounts.registration, guests: auth.guests };
    if (!principal) {
      // A rejected token is a failure; a visitor without a session is simply signed out,
      // which the page asks on every load (a 401 there would log as an error in browsers).
      if (request.headers.has("authorization")) {
        return json(401, { error: { code: "unauthorized", message: "Not signed in." }, ...modes });
      }
      return json(200, { user: null, ...modes });
    }
    const body = { user: principal.user, role: principal.role, via: principal.via, ...modes };
    // The session renews on the server as it is used; renew the cookie's lifetime with it.
    const cookie = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
    const renew = cookie && principal.session && !request.headers.has("authorization")
      ? { "set-cookie": sessionCookie(cookie, isSecure(request)) }
      : undefined;
    return json(200, body, renew);
  }

  /** /api/admin/...: users, rooms and invitations, for server admins only. */
  async function admin(request: Request, path: string, principal: Principal): Promise<Response> {
    if (principal.role !== "admin") {
      return json(403, { error: { code: "forbidden", message: "Server admins only." } });
    }
    const method = request.method;
    if (path === "/api/admin/users" && method === "GET") {
      const users = (await accounts.list()).map(({ passwordHash: _, ...account }) => account);
      return json(200, { users });
    }
    if (path === "/api/admin/rooms" && method === "GET") {
      return json(200, { rooms: await hub.allRooms() });
    }
    if (path === "/api/admin/invites" && method === "POST") {
      const body = await readBody(request, EmptyBody, { optional: true });
      if (!body.ok) return body.response;
      return json(201, await accounts.createInvite(principal.user.id));
    }
    const user = /^\/api\/admin\/users\/([^/]+)$/.exec(path)?.[1];
    if (user && method === "PATCH") {
      const body = await readBody(request, UserPatch);
      if (!body.ok) return body.response;
      const { role, disabled } = body.value;
      const id = decodeURIComponent(user);
      const account = await accounts.update(id, {
        ...(role === undefined ? {} : { role }),
        ...(disabled === undefined ? {} : { disabled }),
      });
      if (account.disabled) {
        await accounts.revokeAll(id);
        hub.closeUser(id, CLOSE_CODES.accountDisabled, "account disabled");
      } else if (role !== undefined) {
        // Sockets carry the role they opened with: make them reconnect with the new one.
        hub.closeUser(id, CLOSE_CODES.shuttingDown, "role changed");
      }
      const { passwordHash: _, ...shown } = account;
      return json(200, { user: shown });
    }
    const room = /^\/api\/admin\/rooms\/([^/]+)$/.exec(path)?.[1];
    if (room && method === "PATCH") {
      const body = await readBody(request, RoomPatch);
      if (!body.ok) return body.response;
      return json(200, {
        room: await hub.setRoomDisabled(decodeURIComponent(room), body.value.disabled),
      });
    }
    return json(404, { error: { code: "not_found", message: "Not found." } });
  }

  async function page(): Promise<Response> {
    const html = options.renderPage({
      title: options.branding.title,
      branding: options.branding,
      basePath: base,
      features: options.features,
      assets: { js: base + assets.js.path, css: base + assets.css.path },
      // The page is the same for everyone; signed-in users get their own list over the socket.
      rooms: await hub.listRooms(),
    });
    return new Response(html, {
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
    });
  }

  /** The accent colour as a stylesheet: the CSP allows no inline styles. */
  function brandingCss(): Response {
    const accent = options.branding.accent;
    const body = accent && CSS_COLOR.test(accent) ? `:root { --accent: ${accent}; }\n` : "";
    return new Response(body, {
      headers: { "content-type": "text/css; charset=utf-8", "cache-control": "no-cache" },
    });
  }

  function metrics(): Response {
    const s = hub.stats();
    const lines = [
      ...admission.metrics(),
      "# TYPE parley_connections gauge",
      `parley_connections ${s.connections}`,
      "# TYPE parley_active_rooms gauge",
      `parley_active_rooms ${s.activeRooms}`,
      "# TYPE parley_messages_committed_total counter",
      `parley_messages_committed_total ${s.messagesCommitted}`,
      "# TYPE parley_deliveries_total counter",
      `parley_deliveries_total ${s.deliveries}`,
      ...options.session?.activity?.metrics?.() ?? [],
    ];
    // Process memory: what an operator watches for slow consumers and bursts.
    const memory = Deno.memoryUsage();
    for (const [name, value] of Object.entries(memory)) {
      const metric = `parley_memory_${name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())}_bytes`;
      lines.push(`# TYPE ${metric} gauge`, `${metric} ${value}`);
    }
    return new Response(lines.join("\n") + "\n", {
      headers: { "content-type": "text/plain; version=0.0.4" },
    });
  }

  async function route(request: Request, ip: string): Promise<Response> {
    const url = new URL(request.url);
    const method = request.method;
    // Mounted under a base path, everything is routed by what follows it.
    if (base && url.pathname !== base && !url.pathname.startsWith(base + "/")) {
      return json(404, { error: { code: "not_found", message: "Not found." } });
    }
    const path = url.pathname.slice(base.length) || "/";
    // A browser fooled by DNS rebinding asks for a name of the attacker's; probes and
    // scrapers use names of their own, and health and metrics reveal nothing.
    if (!HOST_FREE_PATHS.has(path) && !origins.hostAllowed(request)) return misdirected(request);
    if (path === "/ws") return await upgrade(request, ip);
    if (method === "GET" || method === "HEAD") {
      if (path === "/") return await page();
      const asset = assetsByPath.get(path);
      if (asset) return serveAsset(request, asset);
      if (path === "/protocol.json") {
        const custom = [...options.session?.extensions?.frames.values() ?? []].map((
          { frame, schema },
        ) => ({
          type: frame.type,
          request: schema,
          ...(frame.result ? { result: frame.result } : {}),
        }));
        protocolJson ??= JSON.stringify(protocolJsonSchema(custom), null, 2);
        return new Response(protocolJson, {
          headers: { "content-type": "application/schema+json", "cache-control": "no-cache" },
        });
      }
      if (path === "/healthz") return json(200, { ok: true });
      if (path === "/readyz") {
        const ready = await hub.readiness();
        return json(ready.ok ? 200 : 503, ready);
      }
      if (path === "/branding.css") return brandingCss();
      if (path === "/metrics") return metrics();
      if (path === "/api/me") return await me(request);
    }
    if (options.files && isFilePath(path)) {
      if (method !== "GET" && method !== "HEAD") {
        const verdict = originVerdict(request);
        if (verdict !== "ok") return originRefused(verdict);
      }
      const answer = await options.files(request, {
        path,
        ip,
        principal: () => auth.fromRequest(request),
      });
      if (answer) return answer;
    }
    if (!path.startsWith("/api/")) {
      return json(404, { error: { code: "not_found", message: "Not found." } });
    }
    // Everything else changes state: a browser on another site may not ask for it.
    if (method !== "GET" && method !== "HEAD") {
      const verdict = originVerdict(request);
      if (verdict !== "ok") return originRefused(verdict);
    }
    // The API speaks JSON only; a form (which any site can post) is refused before routing.
    // Uploads (the bot API's) are bytes of any type; they need a key, which no form sends.
    const type = request.headers.get("content-type");
    if (
      method !== "GET" && method !== "HEAD" && type !== null && !isJsonMediaType(type) &&
      !takesBytes(path)
    ) {
      return unsupportedMediaType();
    }
    for (const extension of options.extensions ?? []) {
      const answer = await extension(request, {
        path,
        ip,
        principal: () => auth.fromRequest(request),
      });
      if (answer) return answer;
    }
    if (method === "POST") {
      if (path === "/api/register") return await register(request);
      if (path === "/api/login") return await login(request, ip);
      if (path === "/api/token") return await issueToken(request, ip);
      if (path === "/api/logout") return await logout(request);
      if (path === "/api/guest") return await guest(request);
    }
    const principal = await auth.fromRequest(request);
    if (!principal) {
      return json(401, { error: { code: "unauthorized", message: "Not signed in." } });
    }
    if (path === "/api/ticket" && method === "POST") return await ticket(request, principal);
    if (path.startsWith("/api/admin/")) return await admin(request, path, principal);
    return json(404, { error: { code: "not_found", message: "Not found." } });
  }

  const handler: Handler = async (request, info) => {
    let response: Response;
    const ip = clientAddress(request, info, options.trustProxy ?? false);
    try {
      response = await route(request, ip);
    } catch (error) {
      response = error instanceof AuthError ? authFailure(error) : (() => {
        log.error("http handler failed", { url: request.url, error });
        return json(500, { error: { code: "internal", message: "Internal error." } });
      })();
    }
    // An upgrade response's headers are immutable; it carries no page to protect.
    // A route that set its own (a download's sandbox policy) keeps it.
    if (response.status !== 101) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        if (!response.headers.has(name)) response.headers.set(name, value);
      }
    }
    return response;
  };

  async function closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    for (const socket of sockets) {
      if (socket.readyState === WebSocket.OPEN) socket.close(code, reason);
    }
    if (sockets.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (drained = resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  return { handler, closeAll };
}

/** The client's address: the peer's, or the one the trusted proxy saw (its last hop). */
export function clientAddress(
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    // The proxy appends the address it saw; anything before it, the client could forge.
    const hops = request.headers.get("x-forwarded-for")?.split(",").map((h) => h.trim());
    const last = hops?.filter(Boolean).at(-1);
    if (last) return last;
  }
  const addr = info?.remoteAddr;
  return addr && "hostname" in addr ? addr.hostname : "unknown";
}

function authFailure(error: AuthError): Response {
  const body = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    },
  };
  const headers: Record<string, string> = error.retryAfterMs === undefined
    ? {}
    : { "retry-after": String(Math.ceil(error.retryAfterMs / 1000)) };
  return json(error.status, body, headers);
}

/** The session token this request carries, as a bearer token or in the cookie. */
function bearerOrCookie(request: Request): string | undefined {
  return bearerToken(request) ?? readCookie(request.headers.get("cookie"), SESSION_COOKIE);
}

/** 429: a cap on open sockets (the client retries with backoff, as after any failed open). */
function tooManyConnections(message: string): Response {
  return json(429, { error: { code: "too_many_connections", message } }, { "retry-after": "5" });
}

function originRefused(verdict: Exclude<OriginVerdict, "ok">): Response {
  return json(403, {
    error: verdict === "foreign" ? { code: "forbidden", message: "Origin not allowed." } : {
      code: "origin_required",
      message: "A request signed in by the session cookie must carry Origin (browsers " +
        "send it); other clients use a bearer token.",
    },
  });
}

function serveAsset(request: Request, asset: Asset): Response {
  const headers = {
    "content-type": asset.contentType,
    "cache-control": "public, max-age=31536000, immutable",
    etag: asset.etag,
  };
  if (request.headers.get("if-none-match") === asset.etag) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(request.method === "HEAD" ? null : asset.body.slice(), { headers });
}

function isSecure(request: Request): boolean {
  return new URL(request.url).protocol === "https:" ||
    request.headers.get("x-forwarded-proto") === "https";
}
