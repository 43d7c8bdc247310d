/**
 * The server's REST API for accounts. The session lives in an HttpOnly cookie the
 * server sets, so nothing here ever sees a token.
 */
import type { Member } from "../../protocol/messages.ts";
import type { ServerRole } from "../../protocol/permissions.ts";
import { withBase } from "./config.ts";

export type Registration = "open" | "invite" | "closed";

/** How this server lets people in, from `GET /api/me` (signed in or not). */
export interface ServerAccess {
  registration: Registration;
  guests: boolean;
}

export interface SignedIn {
  user: Member;
  role: ServerRole;
}

export type Me = ServerAccess & ({ signedIn: true } & SignedIn | { signedIn: false });

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, status: number, retryAfterMs?: number) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Who the cookie signs in, and how the server lets people in. Signed out, the server
 * answers `{user: null}`; a 401 (a rejected token) means signed out as well.
 */
export async function fetchMe(): Promise<Me> {
  const { status, body } = await send("GET", "/api/me");
  const access: ServerAccess = {
    registration: body.registration === "invite" || body.registration === "closed"
      ? body.registration
      : "open",
    guests: body.guests === true,
  };
  if (status === 401 || (status === 200 && body.user === null)) {
    return { signedIn: false, ...access };
  }
  if (status !== 200 || !body.user || !body.role) throw apiError(status, body);
  return { signedIn: true, user: body.user, role: body.role, ...access };
}

export async function register(
  username: string,
  password: string,
  invite?: string,
): Promise<SignedIn> {
  return await call<SignedIn>("POST", "/api/register", {
    username,
    password,
    ...(invite ? { invite } : {}),
  });
}

export async function login(username: string, password: string): Promise<SignedIn> {
  return await call<SignedIn>("POST", "/api/login", { username, password });
}

export async function continueAsGuest(): Promise<SignedIn> {
  return await call<SignedIn>("POST", "/api/guest", {});
}

/** End this session, or every session of the user (their other sockets close with 4004). */
export async function logout(everywhere = false): Promise<void> {
  await call("POST", "/api/logout", everywhere ? { everywhere: true } : undefined);
}

async function call<T>(method: string, path: string, json?: unknown): Promise<T> {
  const { status, body } = await send(method, path, json);
  if (status < 200 || status >= 300) throw apiError(status, body);
  return body as T;
}

/** What any answer may hold; fields are checked before use, the server being another program. */
interface Json {
  error?: { code?: unknown; message?: unknown; retryAfterMs?: unknown };
  registration?: unknown;
  guests?: unknown;
  user?: Member | null;
  role?: ServerRole;
}

async function send(
  method: string,
  path: string,
  json?: unknown,
): Promise<{ status: number; body: Json }> {
  let res: Response;
  try {
    // Parley may be mounted under a base path inside another application.
    res = await fetch(withBase(path), {
      method,
      credentials: "same-origin",
      headers: json === undefined ? {} : { "content-type": "application/json" },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch {
    throw new ApiError("network", "Cannot reach the server. Check your connection.", 0);
  }
  // 204 and friends have no body; a proxy's HTML error page is not JSON either.
  const body: unknown = await res.json().catch(() => ({}));
  return { status: res.status, body: typeof body === "object" && body !== null ? body : {} };
}

function apiError(status: number, body: Json): ApiError {
  const error = body?.error;
  const retryAfterMs = typeof error?.retryAfterMs === "number" ? error.retryAfterMs : undefined;
  return new ApiError(
    typeof error?.code === "string" ? error.code : `http_${status}`,
    typeof error?.message === "string" ? error.message : `The server answered ${status}.`,
    status,
    retryAfterMs,
  );
}
