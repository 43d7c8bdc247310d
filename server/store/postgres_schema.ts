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
