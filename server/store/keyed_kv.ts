/** The Deno KV store's KeyValue: values under ["r", ...key], apart from the store's own keys. */
import type { AtomicWrite, Key, KeyValue } from "./keyed.ts";
import { untilUnlocked } from "./kv_retry.ts";
import { KvWriteCombiner } from "./kv_writes.ts";

/** Rounds of an atomic write whose `present` keys keep changing under it. */
const MAX_ATOMIC_ATTEMPTS = 20;

const full = (key: Key): Deno.KvKey => ["r", ...key];

export class KvKeyValue implements KeyValue {
  constructor(
    readonly kv: Deno.Kv,
    /** Unconditional sets and deletes go through it, committed with others waiting. */
    private readonly writes: KvWriteCombiner = new KvWriteCombiner(kv),
  ) {}

  async get<T>(key: Key): Promise<T | null> {
    return (await this.kv.get<T>(full(key))).value;
  }

  set(key: Key, value: unknown, options: { expireIn?: number } = {}): Promise<void> {
    return this.writes.write({ type: "set", key: full(key), value, ...options });
  }

  async take<T>(key: Key): Promise<T | null> {
    for (;;) {
      const current = await this.kv.get<T>(full(key));
      if (current.versionstamp === null) return null;
      const result = await untilUnlocked(() =>
        this.kv.atomic().check(current).delete(full(key)).commit()
      );
      if (result.ok) return current.value;
    }
  }

  delete(key: Key): Promise<void> {
    return this.writes.write({ type: "delete", key: full(key) });
  }

  async list<T>(
    prefix: Key,
    options: { limit?: number; reverse?: boolean; before?: string } = {},
  ): Promise<{ key: string[]; value: T }[]> {
    const selector = options.before === undefined
      ? { prefix: full(prefix) }
      : { prefix: full(prefix), end: full([...prefix, options.before]) };
    const found: { key: string[]; value: T }[] = [];
    const iter = this.kv.list<T>(selector, {
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      reverse: options.reverse ?? false,
    });
    for await (const e of iter) found.push({ key: e.key.slice(1) as string[], value: e.value });
    return found;
  }

  async atomic(op: AtomicWrite): Promise<boolean> {
    const present = (op.present ?? []).map(full);
    for (let attempt = 1;; attempt++) {
      // KV checks versionstamps: "present" is "unchanged since this read".
      const seen = present.length > 0 ? await this.kv.getMany(present) : [];
      if (seen.some((entry) => entry.versionstamp === null)) return false;
      const result = await untilUnlocked(() => {
        const tx = this.kv.atomic();
        for (const entry of seen) tx.check(entry);
        for (const key of op.absent ?? []) tx.check({ key: full(key), versionstamp: null });
        for (const { key, value, expireIn } of op.set ?? []) {
          tx.set(full(key), value, expireIn === undefined ? {} : { expireIn });
        }
        for (const key of op.delete ?? []) tx.delete(full(key));
        return tx.commit();
      });
      if (result.ok) return true;
      // Refused: an absent key exists (final), or a present one changed (look again).
      if (present.length === 0 || attempt >= MAX_ATOMIC_ATTEMPTS) return false;
      const again = await this.kv.getMany(present);
      if (again.every((entry, i) => entry.versionstamp === seen[i]!.versionstamp)) return false;
    }
  }
}
