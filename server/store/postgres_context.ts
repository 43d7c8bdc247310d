/**
 * What the PostgreSQL repositories share: the connection, the store's deadline and error
 * mapping, and the collection of expired rows.
 */
import { clean, type Sql } from "./postgres_schema.ts";

/** Every this-many writes to a table with expiring rows, a writer also deletes some. */
const SWEEP_EVERY = 500;
const SWEEP_MAX = 1000;

/** Runs a query with the store's deadline and error mapping. */
export type Guarded = <T>(fn: () => Promise<T>) => Promise<T>;

/** Tables whose rows carry `purge_at`: past it, readers ignore them and writers collect them. */
export type Expiring = "sessions" | "invites" | "tickets" | "login_failures" | "webhook_deliveries";

export class PgContext {
  readonly #writes = new Map<Expiring, number>();

  constructor(readonly sql: Sql, readonly guarded: Guarded) {}

  /** Now and then, delete a bounded number of `table`'s expired rows. */
  async sweep(table: Expiring): Promise<void> {
    const writes = (this.#writes.get(table) ?? 0) + 1;
    this.#writes.set(table, writes % SWEEP_EVERY);
    if (writes < SWEEP_EVERY) return;
    await this.sql`
      DELETE FROM ${this.sql(table)} WHERE ctid IN (
        SELECT ctid FROM ${this.sql(table)} WHERE purge_at <= ${Date.now()}::int8
        LIMIT ${SWEEP_MAX}::int8
      )`;
  }
}

/**
 * A value as JSON text that jsonb accepts: strings lose NUL and lone surrogates (see
 * `clean`); a top-level `undefined` is stored as null.
 */
export function json(value: unknown): string {
  return JSON.stringify(value, (_key, v) => typeof v === "string" ? clean(v) : v) ?? "null";
}

/** When a row written now with this `expireIn` may be collected. */
export function purgeAt(expireIn: number): number {
  return Date.now() + expireIn;
}
