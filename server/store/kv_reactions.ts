/**
 * KvStore keeps reactions beside the stream, never inside a chunk: a message may hold 20
 * emoji from 100 users each, and user ids may be 128 characters long, which could reach
 * a few hundred KiB, far past KV's 64 KiB per value. So each emoji of a message is its
 * own row, ["rx", room, seq, emoji] -> { o, users }: at most 100 members, under 40 KiB
 * even with the longest ids and names. `o` orders the emoji as the message shows them
 * (first reacted first). The rows are written in the same atomic commit as the react or
 * delete entry that changes them, and read back onto the messages a page returns.
 */
import type { Member, Message, Reaction } from "../../protocol/messages.ts";

export interface ReactionRow {
  /** Position among the message's emoji: rows sort by it. */
  o: number;
  users: Member[];
}

/** A message's reaction rows, by emoji. */
export type ReactionRows = Map<string, ReactionRow>;

/** An upper bound on one row's value, for batch budgets. */
export const REACTION_ROW_MAX_BYTES = 40 * 1024;

export function reactionKey(room: string, seq: number, emoji: string): Deno.KvKey {
  return ["rx", room, seq, emoji];
}

/** The rows of one message. */
export async function readReactionRows(
  kv: Deno.Kv,
  room: string,
  seq: number,
): Promise<ReactionRows> {
  const rows: ReactionRows = new Map();
  for await (const e of kv.list<ReactionRow>({ prefix: ["rx", room, seq] })) {
    rows.set(e.key[3] as string, e.value);
  }
  return rows;
}

/** The rows as a message shows them; undefined when there are none. */
export function toReactions(rows: ReactionRows): Reaction[] | undefined {
  if (rows.size === 0) return undefined;
  return [...rows].sort(([, a], [, b]) => a.o - b.o).map(([emoji, row]) => ({
    emoji,
    users: row.users,
  }));
}

/** `m` with the reactions of `rows` (or as it is, with none). */
export function withRows(m: Message, rows: ReactionRows | undefined): Message {
  const reactions = rows && toReactions(rows);
  return reactions ? { ...m, reactions } : m;
}

/**
 * What turns `before` (the stored rows) into `after` (the message's reactions now): rows
 * to write and keys to delete. An emoji keeps its `o` while it keeps its place; one added
 * (or taken back and added again) goes after all others.
 */
export function reactionChanges(
  room: string,
  seq: number,
  before: ReactionRows,
  after: Reaction[] | undefined,
): { set: [Deno.KvKey, ReactionRow][]; remove: Deno.KvKey[] } {
  const set: [Deno.KvKey, ReactionRow][] = [];
  const remove: Deno.KvKey[] = [];
  let next = Math.max(0, ...[...before.values()].map((r) => r.o + 1));
  let last = -1;
  const kept = new Set<string>();
  for (const r of after ?? []) {
    kept.add(r.emoji);
    const old = before.get(r.emoji);
    const o = old && old.o > last ? old.o : next++;
    last = o;
    if (old && old.o === o && sameUsers(old.users, r.users)) continue;
    set.push([reactionKey(room, seq, r.emoji), { o, users: r.users }]);
  }
  for (const emoji of before.keys()) {
    if (!kept.has(emoji)) remove.push(reactionKey(room, seq, emoji));
  }
  return { set, remove };
}

/** `rows` with `changes` made (a copy). */
export function applyRows(
  rows: ReactionRows | undefined,
  changes: { set: [Deno.KvKey, ReactionRow][]; remove: Deno.KvKey[] },
): ReactionRows {
  const next: ReactionRows = new Map(rows);
  for (const key of changes.remove) next.delete(key[3] as string);
  for (const [key, row] of changes.set) next.set(key[3] as string, row);
  return next;
}

/** What a chunk stores of `m`: everything but its reactions. */
export function withoutReactions(m: Message): Message {
  if (!m.reactions) return m;
  const { reactions: _reactions, ...rest } = m;
  return rest;
}

function sameUsers(a: Member[], b: Member[]): boolean {
  return a.length === b.length && a.every((u, i) => u.id === b[i]!.id && u.name === b[i]!.name);
}

/**
 * Put their reactions on a page of one room's messages: one range read over the page's
 * seqs, so a page costs one more read, not one per message.
 */
export async function attachReactions(
  kv: Deno.Kv,
  room: string,
  messages: Message[],
): Promise<Message[]> {
  const texts = messages.filter((m) => m.kind === "text" && !m.deleted);
  if (texts.length === 0) return messages;
  const seqs = texts.map((m) => m.seq);
  const low = Math.min(...seqs);
  const high = Math.max(...seqs);
  const bySeq = new Map<number, ReactionRows>();
  const selector = { start: ["rx", room, low], end: ["rx", room, high + 1] };
  for await (const e of kv.list<ReactionRow>(selector, { batchSize: 500 })) {
    const seq = e.key[2] as number;
    let rows = bySeq.get(seq);
    if (!rows) bySeq.set(seq, rows = new Map());
    rows.set(e.key[3] as string, e.value);
  }
  if (bySeq.size === 0) return messages;
  return messages.map((m) => withRows(m, bySeq.get(m.seq)));
}

/** The same for messages spread over rooms and seqs: one prefix read each, concurrently. */
export function attachReactionsEach(kv: Deno.Kv, messages: Message[]): Promise<Message[]> {
  return Promise.all(
    messages.map(async (m) => withRows(m, await readReactionRows(kv, m.room, m.seq))),
  );
}
