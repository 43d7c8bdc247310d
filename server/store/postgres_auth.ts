/** Accounts, sessions, invitations, tickets and login failures in PostgreSQL tables. */
import { json, type PgContext, purgeAt } from "./postgres_context.ts";
import { clean } from "./postgres_schema.ts";
import type {
  AccountRecord,
  AccountRepository,
  Expiry,
  InviteRecord,
  LoginFailureRepository,
  LoginFailures,
  SessionRecord,
  SessionRepository,
  SingleUseRepository,
  TicketRecord,
} from "./repositories.ts";

interface AccountRow {
  id: string;
  username: string;
  role: AccountRecord["role"];
  source: AccountRecord["source"];
  created_at: number;
  password_hash: string | null;
  disabled: boolean;
}

function toAccount(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    source: row.source,
    createdAt: row.created_at,
    ...(row.password_hash === null ? {} : { passwordHash: row.password_hash }),
    ...(row.disabled ? { disabled: true } : {}),
  };
}

export class PgAccounts implements AccountRepository {
  constructor(readonly pg: PgContext) {}

  get(id: string): Promise<AccountRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<AccountRow[]>`SELECT * FROM accounts WHERE id = ${id}`;
      return row ? toAccount(row) : null;
    });
  }

  byName(username: string): Promise<AccountRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<AccountRow[]>`
        SELECT * FROM accounts WHERE name_key = ${clean(username.toLowerCase())}`;
      return row ? toAccount(row) : null;
    });
  }

  list(): Promise<AccountRecord[]> {
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql<AccountRow[]>`SELECT * FROM accounts ORDER BY id`;
      return rows.map(toAccount);
    });
  }

  register(account: AccountRecord): Promise<AccountRecord | null> {
    return this.pg.guarded(async () => {
      const a = account;
      try {
        // One statement: a taken name fails it whole, first-admin mark included, so the
        // mark only ever goes with an account that got its name.
        const [row] = await this.pg.sql<AccountRow[]>`
          WITH first AS (
            INSERT INTO meta (key, value) VALUES ('first-admin', ${a.id})
            ON CONFLICT (key) DO NOTHING
            RETURNING 1
          )
          INSERT INTO accounts (id, name_key, username, role, source, created_at, password_hash,
            disabled)
          VALUES (${a.id}, ${clean(a.username.toLowerCase())}, ${clean(a.username)},
            CASE WHEN EXISTS (SELECT 1 FROM first) THEN 'admin' ELSE ${a.role} END, ${a.source},
            ${a.createdAt}::int8, ${a.passwordHash ?? null}, ${a.disabled ?? false}::boolean)
          RETURNING *`;
        return toAccount(row!);
      } catch (error) {
        if ((error as { constraint_name?: string }).constraint_name === "accounts_name_key_key") {
          return null;
        }
        throw error;
      }
    });
  }

  put(account: AccountRecord): Promise<void> {
    const a = account;
    return this.pg.guarded(async () => {
      await this.pg.sql`
        INSERT INTO accounts (id, username, role, source, created_at, password_hash, disabled)
        VALUES (${a.id}, ${clean(a.username)}, ${a.role}, ${a.source}, ${a.createdAt}::int8,
          ${a.passwordHash ?? null}, ${a.disabled ?? false}::boolean)
        ON CONFLICT (id) DO UPDATE SET username = excluded.username, role = excluded.role,
          source = excluded.source, created_at = excluded.created_at,
          password_hash = excluded.password_hash, disabled = excluded.disabled`;
    });
  }
}

interface SessionRow {
  hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

function toSession(row: SessionRow): SessionRecord {
  return { userId: row.user_id, createdAt: row.created_at, expiresAt: row.expires_at };
}

export class PgSessions implements SessionRepository {
  constructor(readonly pg: PgContext) {}

  put(hash: string, s: SessionRecord, { expireIn }: Expiry): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sweep("sessions");
      await this.pg.sql`
        INSERT INTO sessions (hash, user_id, created_at, expires_at, purge_at)
        VALUES (${hash}, ${s.userId}, ${s.createdAt}::int8, ${s.expiresAt}::int8,
          ${purgeAt(expireIn)}::int8)
        ON CONFLICT (hash) DO UPDATE SET user_id = excluded.user_id,
          created_at = excluded.created_at, expires_at = excluded.expires_at,
          purge_at = excluded.purge_at`;
    });
  }

  get(hash: string): Promise<SessionRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<SessionRow[]>`
        SELECT * FROM sessions WHERE hash = ${hash} AND purge_at > ${Date.now()}::int8`;
      return row ? toSession(row) : null;
    });
  }

  take(hash: string): Promise<SessionRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<(SessionRow & { purge_at: number })[]>`
        DELETE FROM sessions WHERE hash = ${hash} RETURNING *`;
      return row && row.purge_at > Date.now() ? toSession(row) : null;
    });
  }

  ofUser(userId: string): Promise<string[]> {
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql<{ hash: string }[]>`
        SELECT hash FROM sessions WHERE user_id = ${userId} AND purge_at > ${Date.now()}::int8
        ORDER BY hash`;
      return rows.map((row) => row.hash);
    });
  }

  revokeUser(userId: string): Promise<string[]> {
    return this.pg.guarded(async () => {
      const now = Date.now();
      const rows = await this.pg.sql<{ hash: string; purge_at: number }[]>`
        DELETE FROM sessions WHERE user_id = ${userId} RETURNING hash, purge_at`;
      return rows.filter((row) => row.purge_at > now).map((row) => row.hash).sort();
    });
  }
}

export class PgInvites implements SingleUseRepository<InviteRecord> {
  constructor(readonly pg: PgContext) {}

  put(hash: string, invite: InviteRecord, { expireIn }: Expiry): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sweep("invites");
      await this.pg.sql`
        INSERT INTO invites (hash, by_user, created_at, expires_at, purge_at)
        VALUES (${hash}, ${invite.by}, ${invite.createdAt}::int8, ${invite.expiresAt}::int8,
          ${purgeAt(expireIn)}::int8)
        ON CONFLICT (hash) DO UPDATE SET by_user = excluded.by_user,
          created_at = excluded.created_at, expires_at = excluded.expires_at,
          purge_at = excluded.purge_at`;
    });
  }

  take(hash: string): Promise<InviteRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<
        { by_user: string; created_at: number; expires_at: number; purge_at: number }[]
      >`DELETE FROM invites WHERE hash = ${hash} RETURNING *`;
      if (!row || row.purge_at <= Date.now()) return null;
      return { by: row.by_user, createdAt: row.created_at, expiresAt: row.expires_at };
    });
  }
}

export class PgTickets implements SingleUseRepository<TicketRecord> {
  constructor(readonly pg: PgContext) {}

  put(hash: string, ticket: TicketRecord, { expireIn }: Expiry): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sweep("tickets");
      await this.pg.sql`
        INSERT INTO tickets (hash, principal, expires_at, purge_at)
        VALUES (${hash}, ${json(ticket.principal)}::text::jsonb, ${ticket.expiresAt}::int8,
          ${purgeAt(expireIn)}::int8)
        ON CONFLICT (hash) DO UPDATE SET principal = excluded.principal,
          expires_at = excluded.expires_at, purge_at = excluded.purge_at`;
    });
  }

  take(hash: string): Promise<TicketRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<
        { principal: TicketRecord["principal"]; expires_at: number; purge_at: number }[]
      >`DELETE FROM tickets WHERE hash = ${hash} RETURNING *`;
      if (!row || row.purge_at <= Date.now()) return null;
      return { principal: row.principal, expiresAt: row.expires_at };
    });
  }
}

export class PgLoginFailures implements LoginFailureRepository {
  constructor(readonly pg: PgContext) {}

  get(key: string): Promise<LoginFailures | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<{ count: number; blocked_until: number; last_at: number }[]>`
        SELECT count, blocked_until, last_at FROM login_failures
        WHERE key = ${clean(key)} AND purge_at > ${Date.now()}::int8`;
      return row ? { count: row.count, blockedUntil: row.blocked_until, last: row.last_at } : null;
    });
  }

  put(key: string, f: LoginFailures, { expireIn }: Expiry): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sweep("login_failures");
      await this.pg.sql`
        INSERT INTO login_failures (key, count, blocked_until, last_at, purge_at)
        VALUES (${clean(key)}, ${f.count}::int4, ${f.blockedUntil}::int8, ${f.last}::int8,
          ${purgeAt(expireIn)}::int8)
        ON CONFLICT (key) DO UPDATE SET count = excluded.count,
          blocked_until = excluded.blocked_until, last_at = excluded.last_at,
          purge_at = excluded.purge_at`;
    });
  }

  delete(key: string): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`DELETE FROM login_failures WHERE key = ${clean(key)}`;
    });
  }
}
