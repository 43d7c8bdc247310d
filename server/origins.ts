/**
 * Which hosts and origins this server answers for.
 *
 * DNS rebinding points a name the attacker owns (evil.example) at this server's address:
 * the browser then sends `Host: evil.example` with a matching `Origin`, so comparing the
 * two proves nothing. Names must therefore be configured (`--public-url`), and a request
 * for any other name is refused (421). Addresses (`localhost`, IP literals) need no
 * configuring: no DNS answer puts them in a browser's Host header, so a request for one
 * was sent to this machine on purpose, and a page at that address is the server's own.
 */

export interface OriginPolicyOptions {
  /** Public URLs of this server (their origins count); none: only addresses are answered. */
  publicUrls: string[];
  /** Further origins allowed to call in (another site's page); "*" allows any. */
  allowedOrigins: string[];
  /** Behind a reverse proxy: the host asked for is its last X-Forwarded-Host, if it sends one. */
  trustProxy: boolean;
}

/** What the Origin check says of a request. */
export type OriginVerdict = "ok" | "foreign" | "missing";

export class OriginPolicy {
  readonly #origins: Set<string>;
  readonly #hosts: Set<string>;
  readonly #any: boolean;
  readonly #trustProxy: boolean;

  constructor(options: OriginPolicyOptions) {
    const publicOrigins = options.publicUrls.map(originOf);
    this.#hosts = new Set(publicOrigins.map((origin) => new URL(origin).hostname));
    this.#any = options.allowedOrigins.includes("*");
    this.#origins = new Set([
      ...publicOrigins,
      ...options.allowedOrigins.filter((o) => o !== "*").map(originOf),
    ]);
    this.#trustProxy = options.trustProxy;
  }

  /** The host (and port) the client asked for, normalized; null when it is malformed. */
  host(request: Request): string | null {
    const forwarded = this.#trustProxy
      ? request.headers.get("x-forwarded-host")?.split(",").map((h) => h.trim()).filter(Boolean)
        .at(-1)
      : undefined;
    const raw = forwarded ?? request.headers.get("host") ?? new URL(request.url).host;
    return parseHost(raw)?.host ?? null;
  }

  /** Is this request for one of the server's public hosts, or for an address of it? */
  hostAllowed(request: Request): boolean {
    const host = this.host(request);
    if (host === null) return false;
    const hostname = new URL(`http://${host}`).hostname;
    return this.#hosts.has(hostname) || isAddress(hostname);
  }

  /**
   * The Origin check for a request that changes state (or opens a socket). A request
   * without Origin is fine unless a cookie is what signs it in (`cookieAuth`): browsers
   * send Origin on every such request, or at least `Sec-Fetch-Site`.
   */
  check(request: Request, cookieAuth: boolean): OriginVerdict {
    const origin = request.headers.get("origin");
    if (origin === null) {
      if (!cookieAuth) return "ok";
      return request.headers.get("sec-fetch-site") === "same-origin" ? "ok" : "missing";
    }
    if (this.#any) return "ok";
    let asked: URL;
    try {
      asked = new URL(origin);
    } catch {
      return "foreign"; // "null", from a sandboxed frame or a privacy redirect
    }
    if (this.#origins.has(asked.origin)) return "ok";
    // A page at one of the server's addresses is its own. Hosts are compared, not schemes:
    // behind a TLS proxy the request itself says http.
    const host = this.host(request);
    if (host !== null && isAddress(asked.hostname) && asked.host === host) return "ok";
    return "foreign";
  }
}

/** `localhost` or an IP literal: a host no DNS answer can put in a browser's Host header. */
export function isAddress(hostname: string): boolean {
  return hostname === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) ||
    hostname.startsWith("[");
}

/** The origin of an http(s) URL; throws a TypeError for anything else. */
export function originOf(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`not an http or https URL: ${url}`);
  }
  if (!parsed.hostname) throw new TypeError(`no host in ${url}`);
  return parsed.origin;
}

function parseHost(raw: string): URL | null {
  if (!raw || /[\s/\\?#@]/.test(raw)) return null;
  try {
    return new URL(`http://${raw}`);
  } catch {
    return null;
  }
}
