/**
 * The KV store's search postings, in blocks. A posting is what a text message is found
 * by: each of its words (searchTerms, so every store agrees on what a word is), its author
 * ("\u0001a" + user id) and, for a reply, what it answers ("\u0001r" + seq). Words are
 * letters, marks and digits only, so the "\u0001" ones never collide with them.
 *
 * - ["sp", room, posting, block, part] -> [seq, ts, seq, ts, ...]: the posting's hits
 *   among the seqs of `block` (BLOCK seqs each) that one indexing pass wrote; `part` is
 *   that pass's last seq, so passes never write the same key. A pass over hundreds of
 *   messages writes one row per distinct posting, where a row per message and posting
 *   cost SQLite a page write each and took most of a commit's time.
 * - ["spe", room, seq] -> PostingEdit: how the edit or delete at `seq` changed what its
 *   target is found by, written in that entry's own commit. Passes apply them in seq
 *   order, so the index ends where the stream is; rows may briefly hold hits an edit took
 *   away, which every search re-checks anyway.
 * - ["spi", room] -> the seq up to which the room is indexed (kv_indexer.ts).
 */
import type { Message } from "../../protocol/messages.ts";
import { searchTerms } from "./search_terms.ts";

export const AUTHOR = "\u0001a";
export const REPLY = "\u0001r";
export const POSTINGS = "sp";
export const EDITS = "spe";
export const INDEXED = "spi";
/** Seqs per block: a walk sorts one block's hits at a time. */
export const BLOCK = 256;

export function blockOf(seq: number): number {
  return Math.floor(seq / BLOCK);
}

/** What `m` is found by, as it is now: nothing for a tombstone or a non-text entry. */
export function postingsOf(m: Message | undefined): string[] {
  if (!m || m.kind !== "text" || m.deleted) return [];
  const postings = searchTerms(m.text);
  postings.push(AUTHOR + m.author.id);
  if (m.replyTo) postings.push(REPLY + m.replyTo.seq);
  return postings;
}

/** How an edit or delete changed what its target is found by. */
export interface PostingEdit {
  target: number;
  /** The target's own ts, which its hits carry. */
  ts: number;
  add: string[];
  remove: string[];
}

/** The change from `before` to `after` (one message), or null when nothing changes. */
export function postingEdit(
  before: Message | undefined,
  after: Message | undefined,
): PostingEdit | null {
  const old = new Set(postingsOf(before));
  const now = new Set(postingsOf(after));
  const add = [...now].filter((p) => !old.has(p));
  const remove = [...old].filter((p) => !now.has(p));
  const m = after ?? before;
  if (!m || (add.length === 0 && remove.length === 0)) return null;
  return { target: m.seq, ts: m.ts, add, remove };
}

/** One hit of a posting: a message's seq and ts. */
export interface PostingHit {
  seq: number;
  ts: number;
}

/**
 * What one indexing pass writes: new hits by posting and block, and hits to take out of
 * rows earlier passes stored. Adding and removing the same hit: the last call wins.
 */
export class PostingBatch {
  /** `${block}\n${posting}` -> seq -> ts */
  readonly #added = new Map<string, Map<number, number>>();
  /** `${block}\n${posting}` -> seqs to take out of stored rows */
  readonly #removed = new Map<string, Set<number>>();
  hits = 0;

  add(posting: string, seq: number, ts: number): void {
    const id = `${blockOf(seq)}\n${posting}`;
    let hits = this.#added.get(id);
    if (!hits) this.#added.set(id, hits = new Map());
    hits.set(seq, ts);
    this.#removed.get(id)?.delete(seq);
    this.hits++;
  }

  remove(posting: string, seq: number): void {
    const id = `${blockOf(seq)}\n${posting}`;
    this.#added.get(id)?.delete(seq);
    let seqs = this.#removed.get(id);
    if (!seqs) this.#removed.set(id, seqs = new Set());
    seqs.add(seq);
  }

  /** Rows the new hits need: an upper bound on what `write` sets for them. */
  get rows(): number {
    return this.#added.size;
  }

  /** The new rows there would be with `postings` of the message at `seq` added (for budgets). */
  rowsWith(postings: readonly string[], seq: number): number {
    const block = blockOf(seq);
    let rows = this.#added.size;
    for (const p of postings) if (!this.#added.has(`${block}\n${p}`)) rows++;
    return rows;
  }

  /** The new rows, keyed by `part`. */
  newRows(room: string, part: number): [Deno.KvKey, number[]][] {
    const rows: [Deno.KvKey, number[]][] = [];
    for (const [id, hits] of this.#added) {
      if (hits.size === 0) continue;
      const cut = id.indexOf("\n");
      const key = [POSTINGS, room, id.slice(cut + 1), Number(id.slice(0, cut)), part];
      rows.push([key, flatten(hits)]);
    }
    return rows;
  }

  /** Stored rows that held removed hits, rewritten without them (null: delete the row). */
  async rewrites(kv: Deno.Kv, room: string): Promise<[Deno.KvKey, number[] | null][]> {
    const out: [Deno.KvKey, number[] | null][] = [];
    for (const [id, seqs] of this.#removed) {
      if (seqs.size === 0) continue;
      const cut = id.indexOf("\n");
      const prefix = [POSTINGS, room, id.slice(cut + 1), Number(id.slice(0, cut))];
      for await (const e of kv.list<number[]>({ prefix })) {
        const kept = new Map<number, number>();
        for (let i = 0; i < e.value.length; i += 2) {
          if (!seqs.has(e.value[i]!)) kept.set(e.value[i]!, e.value[i + 1]!);
        }
        if (kept.size * 2 === e.value.length) continue;
        out.push([e.key, kept.size > 0 ? flatten(kept) : null]);
      }
    }
    return out;
  }
}

function flatten(hits: Map<number, number>): number[] {
  const flat: number[] = [];
  for (const seq of [...hits.keys()].sort((a, b) => a - b)) flat.push(seq, hits.get(seq)!);
  return flat;
}

/**
 * One posting's hits in one room with seq below `below`, newest (highest seq) first.
 * Rows come in block order; within a block, its parts' hits are merged and sorted.
 */
export async function* walkPosting(
  kv: Deno.Kv,
  room: string,
  posting: string,
  below = Number.MAX_SAFE_INTEGER,
): AsyncGenerator<PostingHit> {
  const prefix = [POSTINGS, room, posting];
  const selector = { start: prefix, end: [...prefix, blockOf(below - 1) + 1] };
  let block = -1;
  let hits = new Map<number, number>();
  function* drain(): Generator<PostingHit> {
    const seqs = [...hits.keys()].filter((s) => s < below).sort((a, b) => b - a);
    for (const seq of seqs) yield { seq, ts: hits.get(seq)! };
  }
  // Small first batches: with many rooms, most give a hit or two.
  let batch = 4;
  let cursor: string | undefined;
  for (;;) {
    const it = kv.list<number[]>(selector, { reverse: true, batchSize: batch, cursor });
    let n = 0;
    for await (const e of it) {
      n++;
      const b = e.key[3] as number;
      if (b !== block) {
        yield* drain();
        hits = new Map();
        block = b;
      }
      for (let i = 0; i < e.value.length; i += 2) hits.set(e.value[i]!, e.value[i + 1]!);
      if (n === batch) {
        cursor = it.cursor;
        break;
      }
    }
    if (n < batch) break;
    batch = Math.min(batch * 4, 500);
  }
  yield* drain();
}
