/** Webhooks with their delivery logs, and API keys, in PostgreSQL tables. */
import { json, type PgContext, purgeAt } from "./postgres_context.ts";
import { clean } from "./postgres_schema.ts";
import type {
  ApiKeyRecord,
  ApiKeyRepository,
  Expiry,
  WebhookDelivery,
  WebhookRecord,
  WebhookRepository,
} from "./repositories.ts";

interface WebhookRow {
  id: string;
  url: string;
  room: string | null;
  events: string[];
  secret: string;
  created_at: number;
  created_by: string;
}

function toWebhook(row: WebhookRow): WebhookRecord {
  return {
    id: row.id,
    url: row.url,
    ...(row.room === null ? {} : { room: row.room }),
    events: row.events,
    secret: row.secret,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

export class PgWebhooks implements WebhookRepository {
  constructor(readonly pg: PgContext) {}

  list(): Promise<WebhookRecord[]> {
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql<WebhookRow[]>`SELECT * FROM webhooks ORDER BY id`;
      return rows.map(toWebhook);
    });
  }

  get(id: string): Promise<WebhookRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<WebhookRow[]>`SELECT * FROM webhooks WHERE id = ${id}`;
      return row ? toWebhook(row) : null;
    });
  }

  put(hook: WebhookRecord): Promise<void> {
    const h = hook;
    return this.pg.guarded(async () => {
      await this.pg.sql`
        INSERT INTO webhooks (id, url, room, events, secret, created_at, created_by)
        VALUES (${h.id}, ${clean(h.url)}, ${h.room ?? null}, ${h.events}::text[],
          ${clean(h.secret)}, ${h.createdAt}::int8, ${h.createdBy})
        ON CONFLICT (id) DO UPDATE SET url = excluded.url, room = excluded.room,
          events = excluded.events, secret = excluded.secret, created_at = excluded.created_at,
          created_by = excluded.created_by`;
    });
  }

  remove(id: string): Promise<boolean> {
    return this.pg.guarded(async () => {
      // The delivery log goes with it (ON DELETE CASCADE).
      const rows = await this.pg.sql`DELETE FROM webhooks WHERE id = ${id} RETURNING 1`;
      return rows.length > 0;
    });
  }

  logDelivery(id: string, entry: WebhookDelivery, { expireIn }: Expiry): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sweep("webhook_deliveries");
      // The share lock orders this against a removal: an attempt that finishes after the
      // webhook is gone leaves no log.
      await this.pg.sql`
        INSERT INTO webhook_deliveries (webhook_id, attempted_at, entry, purge_at)
        SELECT id, ${entry.at}::int8, ${json(entry)}::text::jsonb, ${purgeAt(expireIn)}::int8
        FROM webhooks WHERE id = ${id}
        FOR KEY SHARE`;
    });
  }

  deliveries(id: string, limit: number): Promise<WebhookDelivery[]> {
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql<{ entry: WebhookDelivery }[]>`
        SELECT entry FROM webhook_deliveries
        WHERE webhook_id = ${id} AND purge_at > ${Date.now()}::int8
        ORDER BY attempted_at DESC, n DESC
        LIMIT ${limit}::int8`;
      return rows.map((row) => row.entry);
    });
  }

  trimDeliveries(id: string, keep: number): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        DELETE FROM webhook_deliveries
        WHERE webhook_id = ${id} AND n NOT IN (
          SELECT n FROM webhook_deliveries WHERE webhook_id = ${id}
          ORDER BY attempted_at DESC, n DESC
          LIMIT ${Math.max(0, keep)}::int8
        )`;
    });
  }
}

interface ApiKeyRow {
  id: string;
  name: string;
  rooms: string[];
  actions: string[];
  hash: string;
  created_at: number;
  created_by: string;
}

function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    rooms: row.rooms,
    actions: row.actions,
    hash: row.hash,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

export class PgApiKeys implements ApiKeyRepository {
  constructor(readonly pg: PgContext) {}

  list(): Promise<ApiKeyRecord[]> {
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql<ApiKeyRow[]>`SELECT * FROM api_keys ORDER BY id`;
      return rows.map(toApiKey);
    });
  }

  get(id: string): Promise<ApiKeyRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${id}`;
      return row ? toApiKey(row) : null;
    });
  }

  create(key: ApiKeyRecord): Promise<boolean> {
    const k = key;
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql`
        INSERT INTO api_keys (id, name, rooms, actions, hash, created_at, created_by)
        VALUES (${k.id}, ${clean(k.name)}, ${k.rooms}::text[], ${k.actions}::text[], ${k.hash},
          ${k.createdAt}::int8, ${k.createdBy})
        ON CONFLICT (id) DO NOTHING
        RETURNING 1`;
      return rows.length > 0;
    });
  }

  take(id: string): Promise<ApiKeyRecord | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<ApiKeyRow[]>`
        DELETE FROM api_keys WHERE id = ${id} RETURNING *`;
      return row ? toApiKey(row) : null;
    });
  }

  touch(id: string, at: number): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`UPDATE api_keys SET last_used_at = ${at}::int8 WHERE id = ${id}`;
    });
  }

  lastUsed(id: string): Promise<number | null> {
    return this.pg.guarded(async () => {
      const [row] = await this.pg.sql<{ last_used_at: number | null }[]>`
        SELECT last_used_at FROM api_keys WHERE id = ${id}`;
      return row?.last_used_at ?? null;
    });
  }
}
