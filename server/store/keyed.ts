/**
 * The repositories over a small key-value helper, written once for the memory and Deno KV
 * adapters (PostgreSQL has tables instead). Keys keep the layout the old generic record
 * surface used (["acct", id], ["modlog", room, order], ...), so data written before stays
 * readable without a migration.
 */
import { KeyedAccounts, KeyedLoginFailures, KeyedSessions, KeyedSingleUse } from "./keyed_auth.ts";
import { KeyedApiKeys, KeyedWebhooks } from "./keyed_admin.ts";
import { KeyedAccess, KeyedModlog } from "./keyed_rooms.ts";
import type { InviteRecord, Repositories, TicketRecord } from "./repositories.ts";

/** A key: a path of strings, compared element by element. */
export type Key = readonly string[];

export interface Write {
  key: Key;
  value: unknown;
  expireIn?: number;
}

/** Writes applied all together or not at all. */
export interface AtomicWrite {
  /** Keys that must be absent... */
  absent?: Key[];
  /** ...and keys that must be present, for the writes to apply. */
  present?: Key[];
  set?: Write[];
  delete?: Key[];
}

/**
 * What an adapter provides for the keyed repositories. Values are JSON-like and well under
 * 64 KiB; a value past its `expireIn` is absent to readers.
 */
export interface KeyValue {
  get<T>(key: Key): Promise<T | null>;
  set(key: Key, value: unknown, options?: { expireIn?: number }): Promise<void>;
  /** Read and delete in one step: of two concurrent takers, only one gets the value. */
  take<T>(key: Key): Promise<T | null>;
  delete(key: Key): Promise<void>;
  /** Values under `prefix` in key order (`reverse`: descending); `before` bounds the next part. */
  list<T>(
    prefix: Key,
    options?: { limit?: number; reverse?: boolean; before?: string },
  ): Promise<{ key: string[]; value: T }[]>;
  /** Apply the writes if the checks hold; false (and nothing written) if not. */
  atomic(op: AtomicWrite): Promise<boolean>;
}

export function keyedRepositories(kv: KeyValue): Repositories {
  return {
    accounts: new KeyedAccounts(kv),
    sessions: new KeyedSessions(kv),
    invites: new KeyedSingleUse<InviteRecord>(kv, "invite"),
    tickets: new KeyedSingleUse<TicketRecord>(kv, "ticket"),
    loginFailures: new KeyedLoginFailures(kv),
    access: new KeyedAccess(kv),
    modlog: new KeyedModlog(kv),
    webhooks: new KeyedWebhooks(kv),
    apiKeys: new KeyedApiKeys(kv),
  };
}

/** A time as 15 digits, so that keys sort as the times do. */
export function pad(ts: number): string {
  return String(Math.floor(ts)).padStart(15, "0");
}
