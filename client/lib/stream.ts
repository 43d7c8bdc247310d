/**
 * A room's stream as the client holds it: the text messages with edits and deletions
 * applied, and how far the stream has been seen without a hole. Pure, so it is easy to test.
 */
import { tombstone, withReaction } from "../../protocol/entries.ts";
import type { Message } from "../../protocol/messages.ts";

/**
 * Fold stream entries into `messages` (text entries sorted by seq, each seq once).
 * A text entry seen twice keeps its more recent state; an edit or deletion changes its
 * target if it is held and is dropped otherwise, since history shows the current state
 * once the target loads. A reaction whose target comes in the same batch is already in that
 * copy. Idempotent, and returns `messages` itself when nothing changed.
 */
export function applyEntries(messages: readonly Message[], entries: readonly Message[]): Message[] {
  const first = entries[0];
  if (first === undefined) return messages as Message[];
  // The common live push: one new message after everything held.
  if (entries.length === 1 && first.kind === "text" && first.seq > (messages.at(-1)?.seq ?? -1)) {
    return [...messages, first];
  }
  const bySeq = new Map(messages.map((m) => [m.seq, m]));
  // A text copy read back from history (a page, a replay) already shows every reaction
  // committed before the read, so the page's own react entries must not be applied again:
  // an old "add" would bring back a reaction that a later entry of the page took back.
  const copies = new Set(entries.flatMap((e) => e.kind === "text" ? [e.seq] : []));
  let changed = false;
  for (const entry of entries) {
    if (entry.kind === "react" && entry.target !== undefined && copies.has(entry.target)) {
      continue;
    }
    if (entry.kind === "text") {
      const held = bySeq.get(entry.seq);
      if (held && !isNewer(entry, held)) continue;
      bySeq.set(entry.seq, entry);
      changed = true;
      continue;
    }
    const target = entry.target === undefined ? undefined : bySeq.get(entry.target);
    if (!target) continue;
    const next = applyChange(target, entry);
    if (next === target) continue;
    bySeq.set(target.seq, next);
    changed = true;
  }
  if (!changed) return messages as Message[];
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Of two copies of one text message, is `a` the more recent? A deletion is final. */
function isNewer(a: Message, b: Message): boolean {
  if (b.deleted) return false;
  if (a.deleted) return true;
  return (a.editedAt ?? 0) > (b.editedAt ?? 0);
}

/**
 * `editedAt` orders the edits of one message, so an edit replayed or delivered late
 * never overwrites a newer text. Reactions and deletions follow server/store/entries.ts,
 * so live pushes, a reconnect's replay and history all show the same message.
 */
function applyChange(target: Message, change: Message): Message {
  if (target.deleted) return target;
  if (change.kind === "react") {
    if (change.emoji === undefined) return target;
    // The server refused reactions past the caps, so none arrive here.
    return withReaction(target, change.author, change.emoji, change.remove === true) ?? target;
  }
  if (change.kind === "delete") return tombstone(target);
  const editedAt = target.editedAt;
  if (
    editedAt !== undefined &&
    (change.ts < editedAt || change.ts === editedAt && change.text === target.text)
  ) {
    return target;
  }
  return { ...target, text: change.text, editedAt: change.ts };
}

/**
 * The highest seq up to which every entry of a room has been seen: what a reconnect
 * recovers from (`room.join {after}`) and what gap detection compares live entries with.
 * Only sources that run up to the present count (join page, replay, pushes, gap fills);
 * older history pages never move it.
 */
export class SeqTracker {
  #contiguous: number;
  /** Seqs seen beyond a hole. */
  readonly #ahead = new Set<number>();

  constructor(contiguous: number) {
    this.#contiguous = contiguous;
  }

  get contiguous(): number {
    return this.#contiguous;
  }

  /** True while some seen entry lies beyond an unseen one. */
  get hasGap(): boolean {
    return this.#ahead.size > 0;
  }

  /** The highest seq seen, hole or not. */
  get latest(): number {
    return Math.max(this.#contiguous, ...this.#ahead);
  }

  /** Record one entry; true if its seq was not seen before. */
  see(seq: number): boolean {
    if (seq <= this.#contiguous || this.#ahead.has(seq)) return false;
    this.#ahead.add(seq);
    this.#advance();
    return true;
  }

  /** Every entry up to `seq` has been seen, e.g. a page that covered the whole range. */
  coverTo(seq: number): void {
    if (seq <= this.#contiguous) return;
    this.#contiguous = seq;
    for (const s of this.#ahead) if (s <= seq) this.#ahead.delete(s);
    this.#advance();
  }

  #advance(): void {
    while (this.#ahead.delete(this.#contiguous + 1)) this.#contiguous++;
  }
}
