/**
 * The RecordStore part of the PostgreSQL store: one table keyed by text[] (compared
 * element by element in byte order, as Deno KV keys are), jsonb values, and an optional
 * expiry. Expired rows are invisible to readers and collected lazily by writers.
 */
import { clean, type Sql } from "./postgres_schema.ts";
import type { RecordKey, RecordStore } from "./types.ts";

/** Every this-many writes, a writer also deletes some expired rows. */
const SWEEP_EVERY = 500;
const SWEEP_MAX = 1000;

/** Runs a query with the store's deadline and error mapping. */
export type Guarded = <T>(fn: () => Promise<T>) => Promise<T>;

export class PostgresRecords implements RecordStore {
  #writes = 0;

  constructor(readonly sql: Sql, readonly guarded: Guarded) {}

  get<T>(key: RecordKey): Promise<T | null> {
    return this.guarded(async () => {
      const [row] = await this.sql<{ value: T }[]>`
        SELECT value FROM records
        WHERE key = ${[
        ...key,
      ]}::text[] AND (expires_at IS NULL OR expires_at > ${Date.now()}::int8)`;
      return row ? row.value : null;
    });
  }

  set(key: RecordKey, value: unknown, options: { expireIn?: number } = {}): Promise<void> {
    return this.guarded(async () => {
      await this.#sweep();
      await this.sql`
        INSERT INTO records (key, value, expires_at)
        VALUES (${[...key]}::text[], ${json(value)}::text::jsonb, ${expiry(options)}::int8)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`;
    });
  }

  create(key: RecordKey, value: unknown, options: { expireIn?: number } = {}): Promise<boolean> {
    return this.guarded(async () => {
      await this.#sweep();
      // An expired row counts as absent: it is taken over in the same statement.
      const rows = await this.sql`
        INSERT INTO records AS r (key, value, expires_at)
        VALUES (${[...key]}::text[], ${json(value)}::text::jsonb, ${expiry(options)}::int8)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
          WHERE r.expires_at IS NOT NULL AND r.expires_at <= ${Date.now()}::int8
        RETURNING 1`;
      return rows.length > 0;
    });
  }

  take<T>(key: RecordKey): Promise<T | null> {
    return this.guarded(async () => {
      const [row] = await this.sql<{ value: T; expires_at: number | null }[]>`
        DELETE FROM records WHERE key = ${[...key]}::text[] RETURNING value, expires_at`;
      if (!row || (row.expires_at !== null && row.expires_at <= Date.now())) return null;
      return row.value;
    });
  }

  delete(key: RecordKey): Promise<void> {
    return this.guarded(async () => {
      await this.sql`DELETE FROM records WHERE key = ${[...key]}::text[]`;
    });
  }

  list<T>(
    prefix: RecordKey,
    options: { limit?: number; reverse?: boolean; before?: string } = {},
  ): Promise<{ key: string[]; value: T }[]> {
    const sql = this.sql;
    // Keys under the prefix lie strictly between the prefix itself and the prefix with
    // "\x01" appended to its last part: in byte order no string falls between s and
    // s + "\x01" except those starting with s (and PostgreSQL text holds no "\0").
    const lower = [...prefix];
    const upper = options.before !== undefined
      ? [...prefix, options.before]
      : prefix.length > 0
      ? [...prefix.slice(0, -1), `${prefix.at(-1)}\x01`]
      : null;
    const order = options.reverse ? sql`DESC` : sql`ASC`;
    const limit = options.limit ?? null;
    return this.guarded(async () => {
      const rows = await sql<{ key: string[]; value: T }[]>`
        SELECT key, value FROM records
        WHERE key > ${lower}::text[]
          ${upper ? sql`AND key < ${upper}::text[]` : sql``}
          AND (expires_at IS NULL OR expires_at > ${Date.now()}::int8)
        ORDER BY key ${order}
        LIMIT ${limit}::int8`;
      return rows.map((r) => ({ key: r.key, value: r.value }));
    });
  }

  /** Now and then, delete a bounded number of expired rows. */
  async #sweep(): Promise<void> {
    if (++this.#writes % SWEEP_EVERY !== 0) return;
    await this.sql`
      DELETE FROM records WHERE key IN (
        SELECT key FROM records WHERE expires_at <= ${Date.now()}::int8 LIMIT ${SWEEP_MAX}::int8
      )`;
  }
}

function expiry(options: { expireIn?: number }): number | null {
  return options.expireIn === undefined ? null : Date.now() + options.expireIn;
}

/**
 * A value as JSON text that jsonb accepts: strings lose NUL and lone surrogates (see
 * `clean`); a top-level `undefined` is stored as null.
 */
function json(value: unknown): string {
  return JSON.stringify(value, (_key, v) => typeof v === "string" ? clean(v) : v) ?? "null";
}
