/** The server's small REST API for identities (kept in an HttpOnly signed cookie). */
import type { Member } from "../../protocol/messages.ts";

export class ApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
  }
}

/** The identities this browser already holds. */
export async function fetchIdentities(): Promise<Member[]> {
  const body = await call<{ identities: Member[] }>("GET", "/api/me");
  return body.identities;
}

/** Create an identity with a display name; the server adds it to the cookie. */
export async function createSession(name: string): Promise<Member> {
  const body = await call<{ user: Member }>("POST", "/api/session", { name });
  return body.user;
}

export async function forgetSession(uid: string): Promise<void> {
  await call("DELETE", `/api/session?uid=${encodeURIComponent(uid)}`);
}

async function call<T>(method: string, path: string, json?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: json === undefined ? {} : { "content-type": "application/json" },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch {
    throw new ApiError("network", "Cannot reach the server. Check your connection.");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = body?.error;
    throw new ApiError(
      error?.code ?? `http_${res.status}`,
      error?.message ?? `The server answered ${res.status}.`,
    );
  }
  return body as T;
}
