/** Who is behind a request or socket, and how they proved it. */
import type { Member } from "../../protocol/messages.ts";
import type { ServerRole } from "../../protocol/permissions.ts";

export interface Principal {
  user: Member;
  role: ServerRole;
  via: "session" | "jwt" | "ticket" | "guest" | "app" | "apikey";
  /** Hash of the session token behind it: revoking the session finds its sockets. */
  session?: string;
  /** When the credential runs out (JWT); a socket closes then unless refreshed. */
  expiresAt?: number;
  /** What the application's `onConnect` hooks added to the user. */
  fields?: Record<string, unknown>;
}

/** A refusal from the auth layer, with the HTTP status and error code to answer with. */
export class AuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "AuthError";
  }
}
