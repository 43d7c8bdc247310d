/**
 * The side rows one KV commit writes beside its chunks (index and reaction rows), merged
 * by key so that several entries touching one message in a batch leave one mutation per
 * key, and counted so that a commit stays inside KV's caps (1000 mutations, 80 KiB of
 * keys). The counts are upper bounds: merging only ever removes mutations.
 */
import { keyBytes } from "./kv_search.ts";

export interface RowChanges {
  set: [Deno.KvKey, unknown][];
  remove: Deno.KvKey[];
}

export class KeyChanges {
  readonly #sets = new Map<string, [Deno.KvKey, unknown]>();
  readonly #removes = new Map<string, Deno.KvKey>();
  mutations = 0;
  keyBytes = 0;

  /** Mutations and key bytes `changes` would add at most. */
  static cost(changes: RowChanges[]): { mutations: number; keyBytes: number } {
    let mutations = 0;
    let bytes = 0;
    for (const { set, remove } of changes) {
      mutations += set.length + remove.length;
      for (const [key] of set) bytes += keyBytes(key);
      for (const key of remove) bytes += keyBytes(key);
    }
    return { mutations, keyBytes: bytes };
  }

  add(changes: RowChanges[]): void {
    const cost = KeyChanges.cost(changes);
    this.mutations += cost.mutations;
    this.keyBytes += cost.keyBytes;
    for (const { set, remove } of changes) {
      for (const key of remove) {
        const id = JSON.stringify(key);
        this.#sets.delete(id);
        this.#removes.set(id, key);
      }
      for (const row of set) {
        const id = JSON.stringify(row[0]);
        this.#removes.delete(id);
        this.#sets.set(id, row);
      }
    }
  }

  applyTo(op: Deno.AtomicOperation): void {
    for (const key of this.#removes.values()) op.delete(key);
    for (const [key, value] of this.#sets.values()) op.set(key, value);
  }
}
