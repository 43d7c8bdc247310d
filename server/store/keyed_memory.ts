/**
 * The memory store's KeyValue: a map whose keys compare element by element, as in Deno KV.
 * Expired values vanish when read, and every so often all of them are swept, so a
 * throwaway server under a stream of distinct keys (login throttling) does not grow
 * without bound.
 */
import type { AtomicWrite, Key, KeyValue } from "./keyed.ts";

interface Slot {
  key: string[];
  value: unknown;
  expiresAt: number;
}

export class MemoryKeyValue implements KeyValue {
  readonly #map = new Map<string, Slot>();
  #writes = 0;

  #live(id: string): Slot | undefined {
    const found = this.#map.get(id);
    if (found && found.expiresAt <= Date.now()) {
      this.#map.delete(id);
      return undefined;
    }
    return found;
  }

  #set(key: Key, value: unknown, expireIn: number | undefined): void {
    if (++this.#writes % 1000 === 0) {
      for (const id of [...this.#map.keys()]) this.#live(id);
    }
    const expiresAt = expireIn === undefined ? Infinity : Date.now() + expireIn;
    this.#map.set(JSON.stringify(key), { key: [...key], value: structuredClone(value), expiresAt });
  }

  get<T>(key: Key): Promise<T | null> {
    const found = this.#live(JSON.stringify(key));
    return Promise.resolve(found ? structuredClone(found.value) as T : null);
  }

  set(key: Key, value: unknown, options: { expireIn?: number } = {}): Promise<void> {
    this.#set(key, value, options.expireIn);
    return Promise.resolve();
  }

  take<T>(key: Key): Promise<T | null> {
    const id = JSON.stringify(key);
    const found = this.#live(id);
    this.#map.delete(id);
    return Promise.resolve((found?.value ?? null) as T | null);
  }

  delete(key: Key): Promise<void> {
    this.#map.delete(JSON.stringify(key));
    return Promise.resolve();
  }

  list<T>(
    prefix: Key,
    options: { limit?: number; reverse?: boolean; before?: string } = {},
  ): Promise<{ key: string[]; value: T }[]> {
    const now = Date.now();
    const found = [...this.#map.values()]
      .filter(({ key, expiresAt }) =>
        expiresAt > now && key.length > prefix.length &&
        prefix.every((part, i) => key[i] === part) &&
        (options.before === undefined || key[prefix.length]! < options.before)
      )
      .sort((a, b) => compareKeys(a.key, b.key));
    if (options.reverse) found.reverse();
    const page = found.slice(0, options.limit ?? found.length);
    return Promise.resolve(
      page.map(({ key, value }) => ({ key, value: structuredClone(value) as T })),
    );
  }

  atomic(op: AtomicWrite): Promise<boolean> {
    // Synchronous from check to write: nothing else runs in between.
    const holds = (op.absent ?? []).every((key) => !this.#live(JSON.stringify(key))) &&
      (op.present ?? []).every((key) => this.#live(JSON.stringify(key)));
    if (!holds) return Promise.resolve(false);
    for (const { key, value, expireIn } of op.set ?? []) this.#set(key, value, expireIn);
    for (const key of op.delete ?? []) this.#map.delete(JSON.stringify(key));
    return Promise.resolve(true);
  }
}

function compareKeys(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}
