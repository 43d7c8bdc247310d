/**
 * HTTP routes: the server-rendered page, hashed assets, the protocol schema, the
 * identity API, health and metrics, and the `/ws` upgrade (Origin and identity are
 * checked before any WebSocket is opened).
 */
import { protocolJsonSchema } from "../protocol/schema.ts";
import type { RoomInfo } from "../protocol/messages.ts";
import type { Asset, ClientAssets } from "./assets.ts";
import type { Hub } from "./hub.ts";
import {
  addIdentity,
  IDENTITY_COOKIE,
  identityCookie,
  type IdentitySigner,
  normalizeDisplayName,
  readCookie,
} from "./identity.ts";
import type { Logger } from "./log.ts";
import { Session, type SessionOptions } from "./session.ts";
import { WebSocketConnection } from "./ws_connection.ts";

/** Renders the HTML document; the composition root passes the client's renderer in. */
export type PageRenderer = (props: {
  title: string;
  assets: { js: string; css: string };
  rooms: RoomInfo[];
}) => string;

export interface HttpOptions {
  hub: Hub;
  signer: IdentitySigner;
  assets: ClientAssets;
  renderPage: PageRenderer;
  title: string;
  allowedOrigins: string[];
  maxBufferedBytes: number;
  log: Logger;
  session?: Omit<SessionOptions, "log">;
}

export type Handler = (request: Request) => Promise<Response>;

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
const MAX_API_BODY_BYTES = 4096;

export function createHttpHandler(options: HttpOptions): HttpLayer {
  const { hub, signer, assets, log } = options;
  const sockets = new Set<WebSocket>();
  let drained: (() => void) | undefined;
  const assetsByPath = new Map<string, Asset>([
    [assets.js.path, assets.js],
    [assets.css.path, assets.css],
  ]);
  let protocolJson: string | undefined;

  function originAllowed(request: Request): boolean {
    const origin = request.headers.get("origin");
    // Non-browser clients send no Origin; cross-site hijacking needs a browser, which always does.
    if (origin === null) return true;
    if (options.allowedOrigins.includes("*") || options.allowedOrigins.includes(origin)) {
      return true;
    }
    try {
      // Compare hosts, not schemes: behind a TLS proxy the request URL says http.
      return new URL(origin).host === (request.headers.get("host") ?? new URL(request.url).host);
    } catch {
      return false;
    }
  }

  /** The identities this browser's signed cookie holds; [] when missing or forged. */
  function identitiesOf(request: Request) {
    return signer.verify(readCookie(request.headers.get("cookie"), IDENTITY_COOKIE));
  }

  function upgrade(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, { error: { code: "upgrade_required", message: "Use a WebSocket." } });
    }
    if (!originAllowed(request)) {
      log.warn("upgrade refused: foreign origin", { origin: request.headers.get("origin") });
      return foreignOrigin();
    }
    const identities = identitiesOf(request);
    const uid = new URL(request.url).searchParams.get("uid");
    const user = uid ? identities.find((m) => m.id === uid) : identities[0];
    if (!user) {
      return json(401, { error: { code: "unauthorized", message: "Pick a display name first." } });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const conn = new WebSocketConnection(
      socket,
      user,
      options.maxBufferedBytes,
      () => session.closed(),
    );
    const session = new Session(conn, hub, { ...options.session, log });
    socket.onmessage = (event) => session.receive(event.data);
    sockets.add(socket);
    socket.onclose = () => {
      session.closed();
      sockets.delete(socket);
      if (sockets.size === 0) drained?.();
    };
    socket.onerror = () => {}; // onclose follows and cleans up
    return response;
  }

  async function createSession(request: Request): Promise<Response> {
    if (!originAllowed(request)) {
      return foreignOrigin();
    }
    const body = await readJson(request);
    const name = normalizeDisplayName((body as { name?: unknown } | null)?.name);
    if (!name) {
      return json(400, {
        error: { code: "invalid_name", message: "Pick a name of 1-32 characters." },
      });
    }
    const existing = identitiesOf(request);
    const { user, all } = addIdentity(existing, name);
    return json(200, { user }, {
      "set-cookie": identityCookie(signer.sign(all), isSecure(request)),
    });
  }

  function deleteSession(request: Request): Response {
    if (!originAllowed(request)) {
      return foreignOrigin();
    }
    const uid = new URL(request.url).searchParams.get("uid");
    const existing = identitiesOf(request);
    const kept = existing.filter((m) => m.id !== uid);
    return new Response(null, {
      status: 204,
      headers: { "set-cookie": identityCookie(signer.sign(kept), isSecure(request)) },
    });
  }

  async function page(): Promise<Response> {
    const html = options.renderPage({
      title: options.title,
      assets: { js: assets.js.path, css: assets.css.path },
      rooms: await hub.listRooms(),
    });
    return new Response(html, {
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
    });
  }

  function metrics(): Response {
    const s = hub.stats();
    const lines = [
      "# TYPE parley_connections gauge",
      `parley_connections ${s.connections}`,
      "# TYPE parley_active_rooms gauge",
      `parley_active_rooms ${s.activeRooms}`,
      "# TYPE parley_messages_committed_total counter",
      `parley_messages_committed_total ${s.messagesCommitted}`,
      "# TYPE parley_deliveries_total counter",
      `parley_deliveries_total ${s.deliveries}`,
    ];
    return new Response(lines.join("\n") + "\n", {
      headers: { "content-type": "text/plain; version=0.0.4" },
    });
  }

  async function route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const method = request.method;
    const path = url.pathname;
    if (path === "/ws") return upgrade(request);
    if (method === "GET" || method === "HEAD") {
      if (path === "/") return await page();
      const asset = assetsByPath.get(path);
      if (asset) return serveAsset(request, asset);
      if (path === "/protocol.json") {
        protocolJson ??= JSON.stringify(protocolJsonSchema(), null, 2);
        return new Response(protocolJson, {
          headers: { "content-type": "application/schema+json", "cache-control": "no-cache" },
        });
      }
      if (path === "/healthz") return json(200, { ok: true });
      if (path === "/metrics") return metrics();
      if (path === "/api/me") {
        const identities = signer.verify(
          readCookie(request.headers.get("cookie"), IDENTITY_COOKIE),
        );
        return json(200, { identities });
      }
    }
    if (path === "/api/session") {
      if (method === "POST") return await createSession(request);
      if (method === "DELETE") return deleteSession(request);
      return json(405, { error: { code: "method_not_allowed", message: "Use POST or DELETE." } });
    }
    return json(404, { error: { code: "not_found", message: "Not found." } });
  }

  const handler: Handler = async (request) => {
    let response: Response;
    try {
      response = await route(request);
    } catch (error) {
      log.error("http handler failed", { url: request.url, error });
      response = json(500, { error: { code: "internal", message: "Internal error." } });
    }
    // An upgrade response's headers are immutable; it carries no page to protect.
    if (response.status !== 101) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        response.headers.set(name, value);
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

function foreignOrigin(): Response {
  return json(403, { error: { code: "forbidden", message: "Origin not allowed." } });
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

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

async function readJson(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_API_BODY_BYTES) return null;
  const text = await request.text();
  if (text.length > MAX_API_BODY_BYTES) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isSecure(request: Request): boolean {
  return new URL(request.url).protocol === "https:" ||
    request.headers.get("x-forwarded-proto") === "https";
}
