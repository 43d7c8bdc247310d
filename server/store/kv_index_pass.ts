/**
 * One indexing pass (kv_postings.ts): for each of some rooms, the entries past its
 * ["spi", room] marker, as their chunks hold them now, with the edits and deletes among
 * them applied in seq order, all written in one commit that checks only the markers.
 * One commit for many rooms: each commit costs SQLite a sync, and a live commit waits
 * behind whatever is queued. Several handles may run passes at once; the markers let one
 * win, and the others read again.
 */
import type { Message } from "../../protocol/messages.ts";
import { EDITS, INDEXED, PostingBatch, type PostingEdit, postingsOf } from "./kv_postings.ts";
import { untilUnlocked } from "./kv_retry.ts";

/** Rows per commit: each key is under ~110 bytes, and KV caps a commit's keys at 80 KiB. */
const MAX_ROWS = 500;
/** Hits per commit: ~20 bytes each, against KV's 800 KiB per commit. */
const MAX_HITS = 20_000;
/** Rooms per commit: one marker check each, of KV's 100. */
const MAX_ROOMS = 90;
const SEQ_END = Number.MAX_SAFE_INTEGER;

/** What one pass found for one room. */
interface RoomPass {
  room: string;
  marker: Deno.KvEntryMaybe<number>;
  batch: PostingBatch;
  /** The posting edits applied, by the seq of their entry. */
  applied: number[];
  upTo: number;
  entries: number;
  /** Whether entries past upTo are left for the next pass. */
  full: boolean;
}

/** Room budget left in one commit. */
interface Budget {
  rows: number;
  hits: number;
}

/**
 * Index what fits one commit of `rooms`' entries past their markers. Null if the commit
 * lost a race (read again and retry); else the entries covered and the rooms with more
 * left (rooms deleted meanwhile count as done).
 */
export async function indexPass(
  kv: Deno.Kv,
  rooms: readonly string[],
): Promise<{ entries: number; behind: string[] } | null> {
  const budget: Budget = { rows: MAX_ROWS, hits: MAX_HITS };
  const passes: RoomPass[] = [];
  let i = 0;
  for (; i < rooms.length && passes.length < MAX_ROOMS; i++) {
    const pass = await readRoom(kv, rooms[i]!, budget, passes.length === 0);
    if (pass === "done") continue;
    if (pass.entries === 0 && pass.full) break; // nothing fits any more
    passes.push(pass);
    if (pass.full) {
      i++;
      break;
    }
  }
  const behind = [...passes.filter((p) => p.full).map((p) => p.room), ...rooms.slice(i)];
  if (passes.length === 0) return { entries: 0, behind };
  const op = kv.atomic();
  for (const { room, marker, batch, applied, upTo } of passes) {
    op.check(marker);
    for (const [key, value] of batch.newRows(room, upTo)) op.set(key, value);
    for (const [key, value] of await batch.rewrites(kv, room)) {
      if (value) op.set(key, value);
      else op.delete(key);
    }
    for (const seq of applied) op.delete([EDITS, room, seq]);
    op.set([INDEXED, room], upTo);
  }
  const result = await untilUnlocked(() => op.commit());
  if (!result.ok) return null;
  return { entries: passes.reduce((n, p) => n + p.entries, 0), behind };
}

/** `room`'s entries past its marker, as far as `budget` goes (taken from it). */
async function readRoom(
  kv: Deno.Kv,
  room: string,
  budget: Budget,
  first: boolean,
): Promise<RoomPass | "done"> {
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

  const pass: RoomPass = {
    room,
    marker,
    batch: new PostingBatch(),
    applied: [],
    upTo: from - 1,
    entries: 0,
    full: false,
  };
  const { batch } = pass;
  // The marker, and stored rows removals may rewrite (a hit is in one row, or two after
  // an edit re-adds it).
  let extra = 1;
  for await (const m of entriesFrom(kv, room, from)) {
    if (m.seq > last) break;
    const edit = m.kind === "text" ? undefined : edits.get(m.seq);
    const postings = edit ? edit.add : postingsOf(m);
    const seq = edit ? edit.target : m.seq;
    const removals = 2 * (edit?.remove.length ?? 0) + (edit ? 1 : 0);
    const rows = batch.rowsWith(postings, seq) + extra + removals;
    const hits = batch.hits + postings.length;
    if ((pass.entries > 0 || !first) && (rows > budget.rows || hits > budget.hits)) {
      pass.full = true;
      break;
    }
    if (edit) {
      for (const p of edit.remove) batch.remove(p, edit.target);
      pass.applied.push(m.seq);
    }
    for (const p of postings) batch.add(p, seq, edit ? edit.ts : m.ts);
    extra += removals;
    pass.upTo = m.seq;
    pass.entries++;
  }
  budget.rows -= batch.rows + extra;
  budget.hits -= batch.hits;
  // Entries pruned away (or never stored) between `from` and `last` need nothing.
  if (!pass.full) pass.upTo = last;
  return pass;
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
