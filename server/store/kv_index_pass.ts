/**
 * One indexing pass over one room (kv_postings.ts): the entries past its ["spi", room]
 * marker, as their chunks hold them now, with the edits and deletes among them applied in
 * seq order, written in one commit that checks only the marker. Several handles may run
 * passes at once; the marker lets one win, and the others read again.
 */
import type { Message } from "../../protocol/messages.ts";
import { EDITS, INDEXED, PostingBatch, type PostingEdit, postingsOf } from "./kv_postings.ts";
import { untilUnlocked } from "./kv_retry.ts";

/** New rows per commit: each key is under ~110 bytes, and KV caps a commit's keys at 80 KiB. */
const MAX_ROWS = 500;
/** Hits per commit: ~20 bytes each, against KV's 800 KiB per commit. */
const MAX_HITS = 20_000;
const SEQ_END = Number.MAX_SAFE_INTEGER;

/**
 * Index some of `room`'s entries past its marker: how many entries the commit covered
 * (-1 if it lost a race and should be tried again), or "done" when the room is indexed
 * to its last seq (or gone).
 */
export async function indexPass(kv: Deno.Kv, room: string): Promise<number | "done"> {
  const [seqEntry, marker] = await kv.getMany<[number, number]>([
    ["seq", room],
    [INDEXED, room],
  ]);
  if (seqEntry.value === null) return "done"; // deleted meanwhile
  const from = (marker.value ?? 0) + 1;
  const last = seqEntry.value;
  if (from > last) return "done";
  const edits = new Map<number, PostingEdit>();
  const editRange = { start: [EDITS, room, from], end: [EDITS, room, last + 1] };
  for await (const e of kv.list<PostingEdit>(editRange)) edits.set(e.key[2] as number, e.value);

  const batch = new PostingBatch();
  const applied: number[] = [];
  /** Stored rows removals may rewrite: a hit is in one row, or two after an edit re-adds it. */
  let rewrites = 0;
  let upTo = from - 1;
  let entries = 0;
  let full = false;
  for await (const m of entriesFrom(kv, room, from)) {
    if (m.seq > last) break;
    const edit = m.kind === "text" ? undefined : edits.get(m.seq);
    const postings = edit ? edit.add : postingsOf(m);
    const seq = edit ? edit.target : m.seq;
    if (
      entries > 0 &&
      (batch.rowsWith(postings, seq) + applied.length + rewrites +
              2 * (edit?.remove.length ?? 0) > MAX_ROWS ||
        batch.hits + postings.length > MAX_HITS)
    ) {
      full = true;
      break;
    }
    if (edit) {
      for (const p of edit.remove) batch.remove(p, edit.target);
      rewrites += 2 * edit.remove.length;
      applied.push(m.seq);
    }
    for (const p of postings) batch.add(p, seq, edit ? edit.ts : m.ts);
    upTo = m.seq;
    entries++;
  }
  // Entries pruned away (or never stored) between `from` and `last` need nothing.
  if (!full) upTo = last;
  const op = kv.atomic().check(marker);
  for (const [key, value] of batch.newRows(room, upTo)) op.set(key, value);
  for (const [key, value] of await batch.rewrites(kv, room)) {
    if (value) op.set(key, value);
    else op.delete(key);
  }
  for (const seq of applied) op.delete([EDITS, room, seq]);
  op.set([INDEXED, room], upTo);
  const result = await untilUnlocked(() => op.commit());
  return result.ok ? entries : -1;
}

/** The room's entries from seq `from` on, in seq order, as the chunks hold them. */
async function* entriesFrom(kv: Deno.Kv, room: string, from: number): AsyncGenerator<Message> {
  // The chunk holding `from` (its key is its first seq) and those after it.
  let start: Deno.KvKey = ["c", room, from];
  const before = { start: ["c", room, 0], end: ["c", room, from + 1] };
  for await (const e of kv.list(before, { reverse: true, limit: 1 })) start = e.key;
  const selector = { start, end: ["c", room, SEQ_END] };
  for await (const { value } of kv.list<Message[]>(selector, { batchSize: 8 })) {
    for (const m of value) if (m.seq >= from) yield m;
  }
}
