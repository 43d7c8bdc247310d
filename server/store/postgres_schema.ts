/**
 * The PostgreSQL store's schema, as versioned migrations applied at start-up.
 *
 * Each migration runs in its own transaction under an advisory lock, so two processes
 * starting at once apply it exactly once; the second waits, then finds it recorded.
 * `schema_migrations` records each version applied, with its time.
 * Append only: never edit a migration that has shipped, add the next one.
 */
import postgres from "postgres";
import { ProtocolError } from "../../protocol/errors.ts";

/** Connects the way the store needs: int8 (seq, times in ms) read back as numbers. */
export function connect(url: string, options: ConnectOptions = {}) {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    onnotice: () => {},
    // The default backoff grows to 20 s after a few failed connects: a restart would then
    // outlast itself by that much. Retry within a second instead.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    types: {
      int8: {
        to: 20,
        from: [20],
        serialize: (x: number) => String(x),
        parse: (x: string) => Number(x),
      },
    },
    connection: {
      application_name: "parley",
      // A statement stuck behind a lock or a dead peer gives up rather than hold a batch.
      statement_timeout: options.statementTimeoutMs ?? 15_000,
      idle_in_transaction_session_timeout: options.statementTimeoutMs ?? 15_000,
    },
  });
}

/**
 * Errors that mean "PostgreSQL is unreachable, restarting, or shedding load", as
 * ProtocolError "unavailable"; anything else (a bug, a constraint) passes unchanged.
 * SQLSTATE classes: 08 connection, 53 resources, 57 operator intervention and timeouts.
 */
export function outage(error: unknown): unknown {
  if (error instanceof ProtocolError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return error;
  const down = /^(08|53|57)/.test(code) || /^(CONNECT_TIMEOUT|CONNECTION_)/.test(code) ||
    /^E[A-Z]+$/.test(code); // ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT...
  if (!down) return error;
  return new ProtocolError("unavailable", `PostgreSQL is unavailable (${code}).`);
}

/** A string PostgreSQL can hold, in text and in jsonb: no NUL, no lone surrogate. */
export function clean(s: string): string {
  return s.toWellFormed().replaceAll("\0", "\uFFFD");
}

export interface ConnectOptions {
  max?: number;
  connectTimeoutSeconds?: number;
  statementTimeoutMs?: number;
}

export type Sql = ReturnType<typeof connect>;

/** Any number, the same in every process: the key of the migration lock. */
const MIGRATION_LOCK = 7_243_950_112;

/**
 * Version n is MIGRATIONS[n - 1]. Names use the "C" collation so that order is byte order,
 * as in Deno KV, and range scans over record keys can use the primary key.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
  -- The epoch names this database's history; it is made once, with the schema.
  INSERT INTO meta (key, value) VALUES ('epoch', gen_random_uuid()::text);

  CREATE TABLE rooms (
    name text COLLATE "C" PRIMARY KEY,
    kind text NOT NULL,
    title text NOT NULL,
    topic text NOT NULL,
    created_at int8 NOT NULL,
    created_by text NOT NULL,
    receipts boolean NOT NULL,
    retention jsonb,
    disabled boolean NOT NULL DEFAULT false,
    last_seq int8 NOT NULL DEFAULT 0,
    first_seq int8 NOT NULL DEFAULT 1,
    -- Bumped by every statement that writes the room's entries (append, prune, delete):
    -- a write checks it against what it read, so nothing moved in between.
    version int8 NOT NULL DEFAULT 0,
    -- Set while a deletion clears up: the row holds the name until then (or until this
    -- time, should the deleting process die), and readers treat the room as gone.
    deleting_until int8
  );

  CREATE TABLE entries (
    room text COLLATE "C" NOT NULL,
    seq int8 NOT NULL,
    kind text NOT NULL,
    author_id text NOT NULL,
    author_name text NOT NULL,
    text text NOT NULL,
    ts int8 NOT NULL,
    nonce text,
    target int8,
    edited_at int8,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (room, seq)
  );
  CREATE UNIQUE INDEX entries_nonce ON entries (room, author_id, nonce) WHERE nonce IS NOT NULL;

  CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL);

  CREATE TABLE members (
    room text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (room, user_id)
  );
  CREATE INDEX members_by_user ON members (user_id, room);

  CREATE TABLE read_markers (
    room text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    seq int8 NOT NULL,
    PRIMARY KEY (room, user_id)
  );

  CREATE TABLE records (
    key text[] COLLATE "C" PRIMARY KEY,
    value jsonb NOT NULL,
    expires_at int8
  );
  CREATE INDEX records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;
  `,
  // 2: typed tables for what `records` held under key prefixes; its live rows move over
  // (in this same transaction) and the table goes. purge_at is when a row may be collected:
  // readers ignore it after that, writers delete it now and then.
  `
  CREATE TABLE accounts (
    id text COLLATE "C" PRIMARY KEY,
    -- A registered username, lower-cased; NULL for guests and users vouched for elsewhere.
    name_key text COLLATE "C" UNIQUE,
    username text NOT NULL,
    role text NOT NULL,
    source text NOT NULL,
    created_at int8 NOT NULL,
    password_hash text,
    disabled boolean NOT NULL DEFAULT false
  );

  CREATE TABLE sessions (
    hash text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    created_at int8 NOT NULL,
    expires_at int8 NOT NULL,
    purge_at int8 NOT NULL
  );
  CREATE INDEX sessions_by_user ON sessions (user_id);
  CREATE INDEX sessions_purge ON sessions (purge_at);

  CREATE TABLE invites (
    hash text COLLATE "C" PRIMARY KEY,
    by_user text NOT NULL,
    created_at int8 NOT NULL,
    expires_at int8 NOT NULL,
    purge_at int8 NOT NULL
  );
  CREATE INDEX invites_purge ON invites (purge_at);

  CREATE TABLE tickets (
    hash text COLLATE "C" PRIMARY KEY,
    principal jsonb NOT NULL,
    expires_at int8 NOT NULL,
    purge_at int8 NOT NULL
  );
  CREATE INDEX tickets_purge ON tickets (purge_at);

  CREATE TABLE login_failures (
    key text COLLATE "C" PRIMARY KEY,
    count int4 NOT NULL,
    blocked_until int8 NOT NULL,
    last_at int8 NOT NULL,
    purge_at int8 NOT NULL
  );
  CREATE INDEX login_failures_purge ON login_failures (purge_at);

  CREATE TABLE room_roles (
    room text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    role text NOT NULL,
    PRIMARY KEY (room, user_id)
  );

  CREATE TABLE room_invitations (
    room text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    by_user text NOT NULL,
    ts int8 NOT NULL,
    PRIMARY KEY (room, user_id)
  );

  CREATE TABLE room_restrictions (
    room text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('ban', 'mute')),
    user_id text COLLATE "C" NOT NULL,
    until_ts int8,
    by_id text NOT NULL,
    by_name text NOT NULL,
    reason text NOT NULL,
    ts int8 NOT NULL,
    PRIMARY KEY (room, kind, user_id)
  );

  CREATE TABLE dm_peers (room text COLLATE "C" PRIMARY KEY, peers text[] NOT NULL);

  CREATE TABLE modlog (
    room text COLLATE "C" NOT NULL,
    ts int8 NOT NULL,
    -- Order of arrival, cluster-wide: orders the entries of one millisecond.
    n int8 GENERATED BY DEFAULT AS IDENTITY,
    event jsonb NOT NULL,
    PRIMARY KEY (room, ts, n)
  );

  CREATE TABLE webhooks (
    id text COLLATE "C" PRIMARY KEY,
    url text NOT NULL,
    room text,
    events text[] NOT NULL,
    secret text NOT NULL,
    created_at int8 NOT NULL,
    created_by text NOT NULL
  );

  CREATE TABLE webhook_deliveries (
    webhook_id text COLLATE "C" NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    attempted_at int8 NOT NULL,
    n int8 GENERATED BY DEFAULT AS IDENTITY,
    entry jsonb NOT NULL,
    purge_at int8 NOT NULL,
    PRIMARY KEY (webhook_id, attempted_at, n)
  );
  CREATE INDEX webhook_deliveries_purge ON webhook_deliveries (purge_at);

  CREATE TABLE api_keys (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    rooms text[] NOT NULL,
    actions text[] NOT NULL,
    hash text NOT NULL,
    created_at int8 NOT NULL,
    created_by text NOT NULL,
    last_used_at int8
  );

  -- The old rows: key[1] is the prefix. Expired ones are left behind.
  CREATE TEMPORARY VIEW live AS
    SELECT key, value, expires_at FROM records
    WHERE expires_at IS NULL OR expires_at > (extract(epoch FROM now()) * 1000)::int8;

  INSERT INTO meta (key, value)
    SELECT 'first-admin', value #>> '{}' FROM live WHERE key = '{meta,first-admin}';
  INSERT INTO accounts
    SELECT a.key[2], u.name_key, a.value->>'username', a.value->>'role', a.value->>'source',
      (a.value->>'createdAt')::numeric::int8, a.value->>'passwordHash',
      coalesce((a.value->>'disabled')::boolean, false)
    FROM live a LEFT JOIN LATERAL (
      SELECT key[2] AS name_key FROM live
      WHERE key[1] = 'uname' AND cardinality(key) = 2 AND value #>> '{}' = a.key[2] LIMIT 1
    ) u ON true
    WHERE a.key[1] = 'acct' AND cardinality(a.key) = 2;
  INSERT INTO sessions
    SELECT key[2], value->>'userId', (value->>'createdAt')::numeric::int8,
      (value->>'expiresAt')::numeric::int8,
      coalesce(expires_at, (value->>'expiresAt')::numeric::int8)
    FROM live WHERE key[1] = 'sess' AND cardinality(key) = 2;
  INSERT INTO invites
    SELECT key[2], value->>'by', (value->>'createdAt')::numeric::int8,
      (value->>'expiresAt')::numeric::int8,
      coalesce(expires_at, (value->>'expiresAt')::numeric::int8)
    FROM live WHERE key[1] = 'invite' AND cardinality(key) = 2;
  INSERT INTO tickets
    SELECT key[2], value->'principal', (value->>'expiresAt')::numeric::int8,
      coalesce(expires_at, (value->>'expiresAt')::numeric::int8)
    FROM live WHERE key[1] = 'ticket' AND cardinality(key) = 2;
  INSERT INTO login_failures
    SELECT key[2], (value->>'count')::int4, (value->>'blockedUntil')::numeric::int8,
      (value->>'last')::numeric::int8,
      coalesce(expires_at, (value->>'last')::numeric::int8 + 86400000)
    FROM live WHERE key[1] = 'loginfail' AND cardinality(key) = 2;
  INSERT INTO room_roles
    SELECT key[2], key[3], value #>> '{}' FROM live WHERE key[1] = 'role' AND cardinality(key) = 3;
  INSERT INTO room_invitations
    SELECT key[2], key[3], value->>'by', (value->>'ts')::numeric::int8
    FROM live WHERE key[1] = 'inv' AND cardinality(key) = 3;
  INSERT INTO room_restrictions
    SELECT key[2], key[1], key[3], (value->>'until')::numeric::int8, value->'by'->>'id',
      value->'by'->>'name', coalesce(value->>'reason', ''), (value->>'ts')::numeric::int8
    FROM live WHERE key[1] IN ('ban', 'mute') AND cardinality(key) = 3;
  INSERT INTO dm_peers
    SELECT key[2], ARRAY(SELECT jsonb_array_elements_text(value))
    FROM live WHERE key[1] = 'dm' AND cardinality(key) = 2;
  -- An old key is "<ts, 15 digits>-<count>-<id>": its order is the log's order.
  INSERT INTO modlog (room, ts, n, event)
    SELECT key[2], substr(key[3], 1, 15)::int8, row_number() OVER (ORDER BY key), value
    FROM live WHERE key[1] = 'modlog' AND cardinality(key) = 3;
  SELECT setval(pg_get_serial_sequence('modlog', 'n'), coalesce(max(n), 0) + 1, false)
    FROM modlog;
  INSERT INTO webhooks
    SELECT key[2], value->>'url', value->>'room',
      ARRAY(SELECT jsonb_array_elements_text(value->'events')), value->>'secret',
      (value->>'createdAt')::numeric::int8, value->>'createdBy'
    FROM live WHERE key[1] = 'webhook' AND cardinality(key) = 2;
  INSERT INTO webhook_deliveries (webhook_id, attempted_at, n, entry, purge_at)
    SELECT key[2], (value->>'at')::numeric::int8, row_number() OVER (ORDER BY key), value,
      coalesce(expires_at, (value->>'at')::numeric::int8 + 604800000)
    FROM live WHERE key[1] = 'whlog' AND cardinality(key) = 3
      AND key[2] IN (SELECT id FROM webhooks);
  SELECT setval(pg_get_serial_sequence('webhook_deliveries', 'n'), coalesce(max(n), 0) + 1,
    false) FROM webhook_deliveries;
  INSERT INTO api_keys
    SELECT k.key[2], k.value->>'name', ARRAY(SELECT jsonb_array_elements_text(k.value->'rooms')),
      ARRAY(SELECT jsonb_array_elements_text(k.value->'actions')), k.value->>'hash',
      (k.value->>'createdAt')::numeric::int8, k.value->>'createdBy',
      (SELECT (u.value #>> '{}')::numeric::int8 FROM live u
        WHERE u.key[1] = 'apikeyused' AND u.key[2] = k.key[2] AND cardinality(u.key) = 2)
    FROM live k WHERE k.key[1] = 'apikey' AND cardinality(k.key) = 2;

  DROP VIEW live;
  DROP TABLE records;
  `,
  // 3: reactions, replies, mentions, files and search. `extra` holds what an entry carries
  // beyond the columns (reactions, replyTo, mentions, file; emoji and remove of a react);
  // `terms` a live text message's words (searchTerms in search_terms.ts, so every store
  // agrees on what a word is), NULL for anything else; `reply_to` the seq it answers.
  `
  ALTER TABLE entries ADD COLUMN extra jsonb;
  ALTER TABLE entries ADD COLUMN terms text[];
  ALTER TABLE entries ADD COLUMN reply_to int8;
  CREATE INDEX entries_terms ON entries USING gin (terms);
  CREATE INDEX entries_replies ON entries (room, reply_to, ts, seq) WHERE reply_to IS NOT NULL;
  CREATE INDEX entries_authors ON entries (room, author_id, ts, seq)
    WHERE kind = 'text' AND NOT deleted;
  CREATE INDEX entries_texts ON entries (room, ts, seq) WHERE kind = 'text' AND NOT deleted;
  `,
  // 4: search's result order across rooms, newest first: words common enough to match
  // often are read through this, stopping at a page, rather than every match then sorted.
  // And the text entries from before 3 that still lack `terms`, for the backfill
  // (postgres_backfill.ts): empty once it has run, so finding it done costs nothing.
  `
  CREATE INDEX entries_newest ON entries (ts DESC, room, seq DESC)
    WHERE kind = 'text' AND NOT deleted;
  CREATE INDEX entries_unindexed ON entries (room, seq)
    WHERE terms IS NULL AND kind = 'text' AND NOT deleted;
  `,
];

/** Apply every migration this database lacks; returns the schema version now in force. */
export async function migrate(sql: Sql, migrations = MIGRATIONS): Promise<number> {
  for (let version = 1; version <= migrations.length; version++) {
    const body = migrations[version - 1]!;
    if (body.includes("$migration$")) throw new Error(`Migration ${version} quotes $migration$.`);
    // One simple query runs as one transaction, holding the advisory lock to its end (the
    // client's own multi-round-trip transactions are avoided, see postgres_batch.ts).
    await sql.unsafe(`
      SELECT pg_advisory_xact_lock(${MIGRATION_LOCK});
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version int PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      );
      DO $do$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ${version}) THEN
          EXECUTE $migration$${body}$migration$;
          INSERT INTO schema_migrations (version) VALUES (${version});
        END IF;
      END $do$;
    `).simple();
  }
  const [row] = await sql<{ version: number | null }[]>`
    SELECT max(version) AS version FROM schema_migrations`;
  const version = row?.version ?? 0;
  if (version > migrations.length) {
    throw new Error(
      `The database's schema is version ${version}; this build knows up to ${migrations.length}.`,
    );
  }
  return version;
}

/** The epoch made by the first migration. */
export async function readEpoch(sql: Sql): Promise<string> {
  const [row] = await sql<{ value: string }[]>`SELECT value FROM meta WHERE key = 'epoch'`;
  if (!row) throw new Error("The meta table has no epoch; the schema is incomplete.");
  return row.value;
}
