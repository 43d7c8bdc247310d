/** Webhooks with their delivery logs, and API keys, over a KeyValue (see keyed.ts). */
import { type KeyValue, pad } from "./keyed.ts";
import type {
  ApiKeyRecord,
  ApiKeyRepository,
  Expiry,
  WebhookDelivery,
  WebhookRecord,
  WebhookRepository,
} from "./repositories.ts";

/**
 * ["webhook", id], and its log under ["whlog", id, "<at>-<write count>-<instance>"]: the
 * count and instance order one millisecond's attempts and keep instances' keys apart.
 */
export class KeyedWebhooks implements WebhookRepository {
  readonly #instance = crypto.randomUUID().slice(0, 6);
  #writes = 0;

  constructor(readonly kv: KeyValue) {}

  async list(): Promise<WebhookRecord[]> {
    return (await this.kv.list<WebhookRecord>(["webhook"])).map((row) => row.value);
  }

  get(id: string): Promise<WebhookRecord | null> {
    return this.kv.get<WebhookRecord>(["webhook", id]);
  }

  async put(hook: WebhookRecord): Promise<void> {
    await this.kv.set(["webhook", hook.id], hook);
  }

  async remove(id: string): Promise<boolean> {
    const found = (await this.kv.take(["webhook", id])) !== null;
    await this.trimDeliveries(id, 0);
    return found;
  }

  async logDelivery(id: string, entry: WebhookDelivery, { expireIn }: Expiry): Promise<void> {
    this.#writes = (this.#writes + 1) % 1e6;
    const order = `${pad(entry.at)}-${String(this.#writes).padStart(6, "0")}-${this.#instance}`;
    // Only while the webhook exists: an attempt finishing after its removal leaves no log.
    await this.kv.atomic({
      present: [["webhook", id]],
      set: [{ key: ["whlog", id, order], value: entry, expireIn }],
    });
  }

  async deliveries(id: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = await this.kv.list<WebhookDelivery>(["whlog", id], { reverse: true, limit });
    return rows.map((row) => row.value);
  }

  async trimDeliveries(id: string, keep: number): Promise<void> {
    const rows = await this.kv.list(["whlog", id]);
    for (const row of rows.slice(0, Math.max(0, rows.length - keep))) {
      await this.kv.delete(row.key);
    }
  }
}

/** ["apikey", id], and ["apikeyused", id] apart, so noting a use never rewrites the key. */
export class KeyedApiKeys implements ApiKeyRepository {
  constructor(readonly kv: KeyValue) {}

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.kv.list<ApiKeyRecord>(["apikey"])).map((row) => row.value);
  }

  get(id: string): Promise<ApiKeyRecord | null> {
    return this.kv.get<ApiKeyRecord>(["apikey", id]);
  }

  create(key: ApiKeyRecord): Promise<boolean> {
    return this.kv.atomic({
      absent: [["apikey", key.id]],
      set: [{ key: ["apikey", key.id], value: key }],
    });
  }

  async take(id: string): Promise<ApiKeyRecord | null> {
    const key = await this.kv.take<ApiKeyRecord>(["apikey", id]);
    await this.kv.delete(["apikeyused", id]);
    return key;
  }

  async touch(id: string, at: number): Promise<void> {
    // Only while the key exists, so a use racing its revocation leaves nothing behind.
    await this.kv.atomic({
      present: [["apikey", id]],
      set: [{ key: ["apikeyused", id], value: at }],
    });
  }

  lastUsed(id: string): Promise<number | null> {
    return this.kv.get<number>(["apikeyused", id]);
  }
}
