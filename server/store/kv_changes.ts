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
  /** Rows of entries new in this commit: their keys are their own, so no merging yet. */
  readonly #fresh: [Deno.KvKey, unknown][] = [];
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

  /** A new entry's rows, with their cost (from `cost`) already known. */
  addFresh(rows: [Deno.KvKey, unknown][], cost: { mutations: number; keyBytes: number }): void {
    this.mutations += cost.mutations;
    this.keyBytes += cost.keyBytes;
    for (const row of rows) this.#fresh.push(row);
  }

  add(changes: RowChanges[]): void {
    const cost = KeyChanges.cost(changes);
    this.mutations += cost.mutations;
    this.keyBytes += cost.keyBytes;
    // A change to an entry new in this batch (a send and its edit together) may touch
    // fresh rows: merge them first.
    for (const row of this.#fresh) this.#sets.set(JSON.stringify(row[0]), row);
    this.#fresh.length = 0;
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
    for (const [key, value] of this.#fresh) op.set(key, value);
  }
}
