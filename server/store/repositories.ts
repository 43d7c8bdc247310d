/**
 * The Store's typed repositories for what the auth, access and admin layers keep: accounts,
 * sessions, invitations, tickets, login throttling, per-room access, the moderation log,
 * webhooks and API keys. Each adapter stores them as suits it (SQL tables, or keys in KV).
 *
 * Values are kept as given and read back equal. Expiry is the caller's business, as the
 * values carry their own times and callers check them; an `expireIn` (ms, real clock) only
 * lets the adapter collect the garbage, and an adapter may hide a value past it.
 * Contract: tests/repositories_contract.ts runs against every adapter.
 */
import type { Member, ModerationEvent } from "../../protocol/messages.ts";
import type { RoomRole, ServerRole } from "../../protocol/permissions.ts";

/** Lets the adapter drop a value after this many ms. */
export interface Expiry {
  expireIn: number;
}

// ---- accounts and what authenticates them ------------------------------------------------------

export interface AccountRecord {
  id: string;
  username: string;
  role: ServerRole;
  source: "local" | "jwt" | "guest" | "app" | "bot";
  createdAt: number;
  passwordHash?: string;
  disabled?: boolean;
}

export interface AccountRepository {
  get(id: string): Promise<AccountRecord | null>;
  /** The account registered under this username, compared ignoring case. */
  byName(username: string): Promise<AccountRecord | null>;
  /** Every account, by id. */
  list(): Promise<AccountRecord[]>;
  /**
   * Register an account under its username, in one atomic step: null when the name is
   * taken (ignoring case), so of two registrations of one name only one wins. The first
   * account ever registered comes back as "admin", however many register at once.
   */
  register(account: AccountRecord): Promise<AccountRecord | null>;
  /** Write an account by id: an update, or one with no registered name (guest, JWT, bot). */
  put(account: AccountRecord): Promise<void>;
}

export interface SessionRecord {
  userId: string;
  createdAt: number;
  expiresAt: number;
}

/** Sessions, by the SHA-256 of their token. */
export interface SessionRepository {
  /** Store a new session, or renew one. */
  put(hash: string, session: SessionRecord, options: Expiry): Promise<void>;
  get(hash: string): Promise<SessionRecord | null>;
  /** Remove one session and return it: of two concurrent takers only one gets it. */
  take(hash: string): Promise<SessionRecord | null>;
  /** Hashes of the user's sessions. */
  ofUser(userId: string): Promise<string[]>;
  /** Remove every session of the user ("log out everywhere"); returns their hashes. */
  revokeUser(userId: string): Promise<string[]>;
}

/** A value handed out once under a secret's hash: an invitation code, a socket ticket. */
export interface SingleUseRepository<T> {
  put(hash: string, value: T, options: Expiry): Promise<void>;
  /** Read and remove in one step: of two concurrent takers only one gets the value. */
  take(hash: string): Promise<T | null>;
}

export interface InviteRecord {
  by: string;
  createdAt: number;
  expiresAt: number;
}

/** The Principal a ticket opens a socket as (server/auth/types.ts; the store sits below it). */
export interface TicketPrincipal {
  user: Member;
  role: ServerRole;
  via: string;
  session?: string;
  expiresAt?: number;
  fields?: Record<string, unknown>;
}

export interface TicketRecord {
  principal: TicketPrincipal;
  expiresAt: number;
}

/** Failed logins counted against one key (an address, a username). */
export interface LoginFailures {
  count: number;
  /** No attempt is accepted before this time. */
  blockedUntil: number;
  last: number;
}

export interface LoginFailureRepository {
  get(key: string): Promise<LoginFailures | null>;
  put(key: string, failures: LoginFailures, options: Expiry): Promise<void>;
  delete(key: string): Promise<void>;
}

// ---- rooms: access and the moderation log -----------------------------------------------------

/** A ban or a mute. */
export interface Restriction {
  /** null: for ever. */
  until: number | null;
  by: Member;
  reason: string;
  ts: number;
}

export interface RoomInvitation {
  by: string;
  ts: number;
}

/** Everything about who may do what in one room, read at once. */
export interface RoomAccessState {
  /** Roles other than plain "member", by user. */
  roles: Map<string, RoomRole>;
  invited: Map<string, RoomInvitation>;
  bans: Map<string, Restriction>;
  mutes: Map<string, Restriction>;
  /** A dm room's two users; null for other rooms. */
  peers: string[] | null;
}

export type RestrictionKind = "ban" | "mute";

export interface AccessRepository {
  load(room: string): Promise<RoomAccessState>;
  /** null removes the user's role. */
  setRole(room: string, userId: string, role: RoomRole | null): Promise<void>;
  invite(room: string, userId: string, invitation: RoomInvitation): Promise<void>;
  uninvite(room: string, userId: string): Promise<void>;
  restrict(kind: RestrictionKind, room: string, userId: string, r: Restriction): Promise<void>;
  lift(kind: RestrictionKind, room: string, userId: string): Promise<void>;
  setPeers(room: string, peers: string[]): Promise<void>;
  /** Remove everything about the room. */
  forget(room: string): Promise<void>;
}

export interface ModlogPage {
  /** Newest first. */
  entries: ModerationEvent[];
  hasMore: boolean;
}

export interface ModlogRepository {
  /** Entries keep the order they were appended in, also within one millisecond. */
  append(event: ModerationEvent): Promise<void>;
  /** The newest `limit` entries with `ts` strictly below `before` (all when absent). */
  page(room: string, query: { before?: number; limit: number }): Promise<ModlogPage>;
  forget(room: string): Promise<void>;
}

// ---- webhooks and API keys --------------------------------------------------------------------

/** A webhook; the secret is kept as is, since signing needs it. */
export interface WebhookRecord {
  /** Unique; 16 hex digits. */
  id: string;
  url: string;
  room?: string;
  /** Names from WEBHOOK_EVENTS (server/api/openapi.ts), checked when the hook is made. */
  events: string[];
  secret: string;
  createdAt: number;
  createdBy: string;
}

/** One delivery attempt, as the admin API shows it (`Delivery` in server/api/openapi.ts). */
export interface WebhookDelivery {
  delivery: string;
  event: string;
  room: string;
  seq: number;
  attempt: number;
  /** When the attempt started: the log's order. */
  at: number;
  status?: number;
  error?: string;
  durationMs: number;
  outcome: string;
  retryAt?: number;
}

export interface WebhookRepository {
  /** Every webhook, by id. */
  list(): Promise<WebhookRecord[]>;
  get(id: string): Promise<WebhookRecord | null>;
  put(hook: WebhookRecord): Promise<void>;
  /** Remove a webhook with its delivery log; false when there was none. */
  remove(id: string): Promise<boolean>;
  /** Append to the webhook's delivery log, in order of `at`, then of appending. */
  logDelivery(id: string, entry: WebhookDelivery, options: Expiry): Promise<void>;
  /** The newest `limit` log entries, newest first. */
  deliveries(id: string, limit: number): Promise<WebhookDelivery[]>;
  /** Keep only the newest `keep` log entries. */
  trimDeliveries(id: string, keep: number): Promise<void>;
}

/** An API key: its hash, never the key. */
export interface ApiKeyRecord {
  /** Unique; 16 hex digits. */
  id: string;
  name: string;
  rooms: string[];
  /** Names from API_ACTIONS (server/api/openapi.ts), checked when the key is issued. */
  actions: string[];
  hash: string;
  createdAt: number;
  createdBy: string;
}

export interface ApiKeyRepository {
  /** Every key, by id. */
  list(): Promise<ApiKeyRecord[]>;
  get(id: string): Promise<ApiKeyRecord | null>;
  /** Store a new key; false when its id is taken. */
  create(key: ApiKeyRecord): Promise<boolean>;
  /** Remove a key (and when it was last used) and return it; only one of two takers gets it. */
  take(id: string): Promise<ApiKeyRecord | null>;
  /** Note a use; never brings back a key removed meanwhile. */
  touch(id: string, at: number): Promise<void>;
  lastUsed(id: string): Promise<number | null>;
}

/** The repositories a Store carries, beside rooms and their streams. */
export interface Repositories {
  readonly accounts: AccountRepository;
  readonly sessions: SessionRepository;
  readonly invites: SingleUseRepository<InviteRecord>;
  readonly tickets: SingleUseRepository<TicketRecord>;
  readonly loginFailures: LoginFailureRepository;
  readonly access: AccessRepository;
  readonly modlog: ModlogRepository;
  readonly webhooks: WebhookRepository;
  readonly apiKeys: ApiKeyRepository;
}
