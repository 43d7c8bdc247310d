/**
 * Turns a request's credentials into a Principal: a session cookie (browsers), a
 * bearer token (a JWT or a session token, for bots and native clients), or a
 * single-use ticket in the URL (browsers on another origin, which must not put
 * long-lived tokens in URLs).
 */
import { type Accounts, principalOf } from "./accounts.ts";
import type { JwtVerifier } from "./jwt.ts";
import type { ServerRole } from "../../protocol/permissions.ts";
import { AuthError, type Principal } from "./types.ts";

export const SESSION_COOKIE = "parley_session";

/** An embedding application's own request -> user mapping; null passes to Parley's. */
export type AppAuthenticate = (
  request: Request,
) => Promise<{ id: string; name: string; role?: ServerRole } | null>;

export class Authenticator {
  constructor(
    readonly accounts: Accounts,
    readonly jwt: JwtVerifier | null,
    readonly guests: boolean,
    readonly authenticate?: AppAuthenticate,
  ) {}

  /** The principal behind `request`, or null. `ticket` allows the URL ticket (the upgrade). */
  async fromRequest(request: Request, { ticket = false } = {}): Promise<Principal | null> {
    if (ticket) {
      const value = new URL(request.url).searchParams.get("ticket");
      if (value !== null) return await this.accounts.redeemTicket(value);
    }
    if (this.authenticate) {
      const found = await this.authenticate(request);
      if (found) {
        const id = `app:${found.id}`;
        if ((await this.accounts.get(id))?.disabled) return null;
        const name = found.name.trim().slice(0, 32) || found.id;
        const account = await this.accounts.upsertExternal(id, name, found.role ?? "user");
        return principalOf(account, "app");
      }
    }
    const bearer = bearerToken(request);
    if (bearer) return await this.fromToken(bearer);
    const cookie = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
    return cookie ? await this.#session(cookie) : null;
  }

  /** A bearer token: a JWT when it looks like one and JWTs are configured, else a session token. */
  async fromToken(token: string): Promise<Principal | null> {
    if (this.jwt && token.split(".").length === 3) {
      try {
        return await this.fromJwt(token);
      } catch (error) {
        if (error instanceof AuthError) return null;
        throw error;
      }
    }
    return await this.#session(token);
  }

  /** Verify a JWT and record its user; throws AuthError with the reason when refused. */
  async fromJwt(token: string): Promise<Principal> {
    if (!this.jwt) throw new AuthError("invalid_token", "This server does not accept JWTs.", 401);
    const identity = await this.jwt.verify(token);
    const existing = await this.accounts.get(identity.id);
    if (existing?.disabled) {
      throw new AuthError("account_disabled", "This account is disabled.", 403);
    }
    const account = await this.accounts.upsertExternal(identity.id, identity.name, identity.role);
    return { ...principalOf(account, "jwt"), expiresAt: identity.expiresAt };
  }

  async #session(token: string): Promise<Principal | null> {
    const found = await this.accounts.resolveSession(token);
    if (!found) return null;
    const via = found.account.role === "guest" ? "guest" : "session";
    return principalOf(found.account, via, found.session);
  }
}

/** The token of an `Authorization: Bearer` header, if the request has one. */
export function bearerToken(request: Request): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
}

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const SESSION_COOKIE_MAX_AGE_S = 30 * 24 * 60 * 60;

/** The session cookie: HttpOnly, SameSite=Lax, Secure behind TLS; an empty value clears it. */
export function sessionCookie(token: string, secure: boolean): string {
  const age = token ? SESSION_COOKIE_MAX_AGE_S : 0;
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${age}${
    secure ? "; Secure" : ""
  }`;
}
