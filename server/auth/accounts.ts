/**
 * Accounts, sessions, invitations and WebSocket tickets, kept in the Store's repositories.
 * Secrets handed out (session tokens, invite codes, tickets) are 256-bit random values;
 * only their SHA-256 hashes are stored.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Member } from "../../protocol/messages.ts";
import type { ServerRole } from "../../protocol/permissions.ts";
import type {
  AccountRecord,
  InviteRecord,
  Repositories,
  SessionRecord,
  TicketRecord,
} from "../store/repositories.ts";
import { LoginLimiter } from "./limiter.ts";
import {
  burnPasswordCheck,
  DEFAULT_PASSWORD_COST,
  hashPassword,
  passwordProblem,
  verifyPassword,
} from "./passwords.ts";
import { AuthError, type Principal } from "./types.ts";

export type Registration = "open" | "invite" | "closed";
export const REGISTRATION_MODES: readonly Registration[] = ["open", "invite", "closed"];

export type Account = AccountRecord;

/** The repositories accounts live in: a Store has them all. */
export type AuthStore = Pick<
  Repositories,
  "accounts" | "sessions" | "invites" | "tickets" | "loginFailures"
>;

export interface AccountsOptions {
  store: AuthStore;
  /** log2 of scrypt's N for new hashes. */
  passwordCost?: number;
  registration?: Registration;
  sessionTtlMs?: number;
  ticketTtlMs?: number;
  inviteTtlMs?: number;
  limiter?: LoginLimiter;
  now?: () => number;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$/;
const DAY_MS = 24 * 60 * 60 * 1000;
/** A session is renewed, at most this often, when it is used. */
const RENEW_EVERY_MS = DAY_MS;

export class Accounts {
  readonly #store: AuthStore;
  readonly #cost: number;
  readonly #sessionTtl: number;
  readonly #ticketTtl: number;
  readonly #inviteTtl: number;
  readonly #limiter: LoginLimiter;
  readonly #now: () => number;
  readonly registration: Registration;

  constructor(options: AccountsOptions) {
    this.#store = options.store;
    this.#cost = options.passwordCost ?? DEFAULT_PASSWORD_COST;
    this.registration = options.registration ?? "open";
    this.#sessionTtl = options.sessionTtlMs ?? 30 * DAY_MS;
    this.#ticketTtl = options.ticketTtlMs ?? 30_000;
    this.#inviteTtl = options.inviteTtlMs ?? 7 * DAY_MS;
    this.#now = options.now ?? Date.now;
    this.#limiter = options.limiter ?? new LoginLimiter(this.#store.loginFailures, {
      now: this.#now,
    });
  }

  // ---- accounts -------------------------------------------------------------------------

  /**
   * Register a local account. The first account on a fresh store becomes the server
   * admin; `asAdmin` (the command line) makes any account one.
   */
  async register(
    input: { username: unknown; password: unknown; invite?: unknown },
    { asAdmin = false }: { asAdmin?: boolean } = {},
  ): Promise<Account> {
    const username = typeof input.username === "string" ? input.username.trim() : "";
    const password = typeof input.password === "string" ? input.password : "";
    if (!USERNAME.test(username) || /^guest-/i.test(username)) {
      throw new AuthError(
        "invalid_username",
        "Usernames are 2-32 letters, digits, '.', '_' or '-', and may not start with guest-.",
        400,
      );
    }
    const problem = passwordProblem(password, username);
    if (problem) throw new AuthError("weak_password", problem, 400);
    if (!asAdmin && this.registration === "closed") {
      throw new AuthError("registration_closed", "Registration is closed on this server.", 403);
    }
    if (!asAdmin && this.registration === "invite") {
      const code = typeof input.invite === "string" ? input.invite : "";
      const invite = code ? await this.#store.invites.take(hash(code)) : null;
      if (!invite || invite.expiresAt < this.#now()) {
        throw new AuthError("invalid_invite", "This server needs a valid invitation code.", 403);
      }
    }
    const account: Account = {
      id: `u_${token(12)}`,
      username,
      role: asAdmin ? "admin" : "user",
      source: "local",
      createdAt: this.#now(),
      passwordHash: await hashPassword(password, this.#cost),
    };
    // The repository makes exactly one registration ever the first admin, however many
    // register at once; an admin made on the command line counts, so the next stays a user.
    const registered = await this.#store.accounts.register(account);
    if (!registered) {
      throw new AuthError("username_taken", `The username "${username}" is taken.`, 409);
    }
    return registered;
  }

  async get(id: string): Promise<Account | null> {
    return await this.#store.accounts.get(id);
  }

  async byName(username: string): Promise<Account | null> {
    return await this.#store.accounts.byName(username.trim());
  }

  async list(): Promise<Account[]> {
    return await this.#store.accounts.list();
  }

  /** Change an account's role or disabled flag; returns the account as it is now. */
  async update(id: string, patch: { role?: ServerRole; disabled?: boolean }): Promise<Account> {
    const account = await this.get(id);
    if (!account) throw new AuthError("user_not_found", "No such user.", 404);
    const next = { ...account };
    if (patch.role) next.role = patch.role;
    if (patch.disabled === true) next.disabled = true;
    if (patch.disabled === false) delete next.disabled;
    await this.#store.accounts.put(next);
    return next;
  }

  /** Record (or refresh) a user that an outside JWT vouches for. */
  async upsertExternal(id: string, name: string, role: ServerRole): Promise<Account> {
    const existing = await this.get(id);
    if (existing && existing.username === name && existing.role === role) return existing;
    const account: Account = existing ? { ...existing, username: name, role } : {
      id,
      username: name,
      role,
      source: id.startsWith("app:") ? "app" : id.startsWith("bot:") ? "bot" : "jwt",
      createdAt: this.#now(),
    };
    await this.#store.accounts.put(account);
    return account;
  }

  /** A visitor without an account: a fresh guest user with a session. */
  async guest(): Promise<{ account: Account; token: string }> {
    const account: Account = {
      id: `g_${token(12)}`,
      username: `guest-${token(4).replace(/[^A-Za-z0-9]/g, "x").toLowerCase()}`,
      role: "guest",
      source: "guest",
      createdAt: this.#now(),
    };
    await this.#store.accounts.put(account);
    return { account, token: await this.createSession(account.id) };
  }

  // ---- login and sessions ------------------------------------------------------------------

  /** Check a password, throttled per address and per username. */
  async login(username: unknown, password: unknown, ip: string): Promise<Account> {
    const name = typeof username === "string" ? username.trim().toLowerCase() : "";
    const secret = typeof password === "string" ? password.slice(0, 1024) : "";
    const keys = [`ip:${ip}`, `user:${name}`];
    const wait = await this.#limiter.waitMs(keys);
    if (wait > 0) throw tooMany(wait);
    const account = name ? await this.byName(name) : null;
    const ok = account?.passwordHash
      ? await verifyPassword(secret, account.passwordHash)
      : (await burnPasswordCheck(secret, this.#cost), false);
    if (!ok || !account) {
      const after = await this.#limiter.fail(keys);
      if (after > 0) throw tooMany(after, "Wrong username or password. ");
      throw new AuthError("invalid_credentials", "Wrong username or password.", 401);
    }
    if (account.disabled) throw new AuthError("account_disabled", "This account is disabled.", 403);
    await this.#limiter.succeed(`user:${name}`);
    return account;
  }

  /** A new session; the caller hands the token out, the store keeps its hash. */
  async createSession(userId: string): Promise<string> {
    const secret = token(32);
    const now = this.#now();
    const record: SessionRecord = { userId, createdAt: now, expiresAt: now + this.#sessionTtl };
    await this.#store.sessions.put(hash(secret), record, { expireIn: this.#sessionTtl });
    return secret;
  }

  /** The live account behind a session token, renewing the session as it is used. */
  async resolveSession(
    secret: string,
  ): Promise<{ account: Account; session: string; expiresAt: number } | null> {
    if (!secret || secret.length > 128) return null;
    const key = hash(secret);
    const record = await this.#store.sessions.get(key);
    const now = this.#now();
    if (!record || record.expiresAt <= now) return null;
    const account = await this.get(record.userId);
    if (!account || account.disabled) return null;
    let expiresAt = record.expiresAt;
    if (expiresAt - now < this.#sessionTtl - RENEW_EVERY_MS) {
      expiresAt = now + this.#sessionTtl;
      await this.#store.sessions.put(key, { ...record, expiresAt }, {
        expireIn: this.#sessionTtl,
      });
    }
    return { account, session: key, expiresAt };
  }

  /** Whether the session with this hash is still live, for an account still enabled. */
  async sessionLive(session: string): Promise<boolean> {
    const record = await this.#store.sessions.get(session);
    if (!record || record.expiresAt <= this.#now()) return false;
    const account = await this.get(record.userId);
    return account !== null && !account.disabled;
  }

  /** Revoke one session by its token; returns its hash, to close its sockets. */
  async revokeSession(secret: string): Promise<string | null> {
    const key = hash(secret);
    return (await this.#store.sessions.take(key)) ? key : null;
  }

  /** Revoke every session of a user ("log out everywhere"). */
  async revokeAll(userId: string): Promise<number> {
    return (await this.#store.sessions.revokeUser(userId)).length;
  }

  // ---- invitations and tickets ---------------------------------------------------------------

  async createInvite(by: string): Promise<{ code: string; expiresAt: number }> {
    const code = token(32);
    const expiresAt = this.#now() + this.#inviteTtl;
    const record: InviteRecord = { by, createdAt: this.#now(), expiresAt };
    await this.#store.invites.put(hash(code), record, { expireIn: this.#inviteTtl });
    return { code, expiresAt };
  }

  /** A short-lived, single-use ticket that opens one WebSocket as `principal`. */
  async issueTicket(principal: Principal): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = token(32);
    const expiresAt = this.#now() + this.#ticketTtl;
    const record: TicketRecord = { principal, expiresAt };
    await this.#store.tickets.put(hash(ticket), record, { expireIn: this.#ticketTtl });
    return { ticket, expiresAt };
  }

  /** Redeem a ticket: it works once, before it expires. */
  async redeemTicket(ticket: string): Promise<Principal | null> {
    if (!ticket || ticket.length > 128) return null;
    const record = await this.#store.tickets.take(hash(ticket));
    if (!record || record.expiresAt <= this.#now()) return null;
    const account = await this.get(record.principal.user.id);
    if (!account || account.disabled) return null;
    return { ...record.principal, via: "ticket" };
  }
}

export function memberOf(account: Account): Member {
  return { id: account.id, name: account.username };
}

export function principalOf(account: Account, via: Principal["via"], session?: string): Principal {
  return {
    user: memberOf(account),
    role: account.role,
    via,
    ...(session === undefined ? {} : { session }),
  };
}

function tooMany(waitMs: number, prefix = ""): AuthError {
  const seconds = Math.ceil(waitMs / 1000);
  return new AuthError(
    "rate_limited",
    `${prefix}Too many failed attempts; try again in ${seconds} s.`,
    429,
    waitMs,
  );
}

/** SHA-256, hex: how every handed-out secret is stored. */
export function hash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function token(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}
