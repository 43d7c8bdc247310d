/**
 * Keeps each joined room's timeline in step with the server's stream: joins, recovery
 * after a reconnect, live entries with gap repair, paging back, edits and read markers.
 */
import { batch } from "@preact/signals";
import { LIMITS } from "../../protocol/limits.ts";
import type {
  Message,
  Receipt,
  RequestBody,
  RequestType,
  ResultOf,
} from "../../protocol/messages.ts";
import { mentionsUser } from "./composer_mentions.ts";
import { SeqTracker } from "./stream.ts";
import {
  commitEntries,
  forgetHistory,
  identity,
  isWatching,
  type RoomView,
  roomView,
  setPresence,
  setTyping,
  unreadAfter,
  upsertRoom,
} from "./state.ts";

export type Requester = <T extends RequestType>(
  type: T,
  body: RequestBody<T>,
) => Promise<ResultOf<T>>;

export interface SyncOptions {
  /** How long a missing seq may lag behind later ones before it is fetched. */
  reorderMs?: number;
  /** At most one `read` per room in this interval. */
  readDelayMs?: number;
}

const PAGE = LIMITS.historyPageMax;

export class RoomSync {
  readonly #request: Requester;
  readonly #reorderMs: number;
  readonly #readDelayMs: number;
  /** The history epoch of the last `hello`; the seqs of another epoch mean nothing. */
  #epoch: string | null = null;
  readonly #gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #filling = new Set<string>();
  readonly #readTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(request: Requester, options: SyncOptions = {}) {
    this.#request = request;
    // Pushes relayed by other server instances may overtake each other briefly.
    this.#reorderMs = options.reorderMs ?? 300;
    this.#readDelayMs = options.readDelayMs ?? 500;
  }

  /** A `hello` was accepted; a new epoch means the server's history was reset. */
  hello(epoch: string): void {
    if (this.#epoch !== null && epoch !== this.#epoch) forgetHistory();
    this.#epoch = epoch;
  }

  /**
   * Join `room`, or rejoin it after a reconnect: the server replays what was missed or,
   * when it cannot, the timeline restarts at the latest page with the jump marked.
   * Rejects (after recording the error in the view) if the server refuses.
   */
  async join(room: string): Promise<void> {
    const view = roomView(room);
    if (view.joined.value !== "no") return;
    const after = view.stream?.contiguous;
    const body: RequestBody<"room.join"> = after === undefined || this.#epoch === null
      ? { room }
      : { room, after, epoch: this.#epoch };
    view.early = [];
    batch(() => {
      view.joined.value = "joining";
      view.error.value = null;
    });
    let reply: ResultOf<"room.join">;
    try {
      reply = await this.#request("room.join", body);
    } catch (err) {
      view.early = [];
      batch(() => {
        view.joined.value = "no";
        view.error.value = (err as Error).message;
      });
      throw err;
    }
    const early = view.early;
    view.early = [];
    const info = reply.room;
    batch(() => {
      upsertRoom(info);
      if (view.stream && body.after !== undefined && reply.recovered) {
        commitEntries(room, reply.messages);
        const last = reply.messages.at(-1)?.seq;
        if (last !== undefined) view.stream.coverTo(last);
      } else {
        this.#restart(view, room, reply, body.after ?? (view.lost ? 0 : null));
      }
      if (info.readSeq !== undefined) view.readSeq.value = info.readSeq;
      if (info.unread !== undefined) view.unread.value = info.unread;
      if (info.mentions !== undefined) view.mentions.value = info.mentions;
      view.receipts.value = new Map((reply.receipts ?? []).map((r) => [r.user.id, r]));
      setPresence(room, reply.presence);
      view.joined.value = "yes";
      // Pushes that overtook the reply; `unread` already counts what was committed then.
      this.#take(view, room, early, info.lastSeq);
    });
  }

  /**
   * Replace the timeline with the latest page. `seenTo` is how far the lost timeline
   * went (null if there was none): the marker goes where the page takes over from it.
   */
  #restart(
    view: RoomView,
    room: string,
    reply: ResultOf<"room.join">,
    seenTo: number | null,
  ): void {
    const { messages, room: info } = reply;
    view.stream = new SeqTracker(messages.at(-1)?.seq ?? info.lastSeq);
    view.oldest = messages[0]?.seq ?? info.lastSeq + 1;
    view.lost = false;
    view.messages.value = [];
    commitEntries(room, messages);
    view.hasMore.value = reply.hasMore;
    view.gapAt.value = seenTo === null ? null : Math.max(view.oldest, seenTo + 1);
  }

  /** A live `message` push. */
  receive(entry: Message): void {
    const view = roomView(entry.room);
    if (view.joined.value === "joining") view.early.push(entry);
    else if (view.joined.value === "yes") this.#take(view, entry.room, [entry], -1);
  }

  /** Our own request committed `entry` (send, edit, delete); its push may come later. */
  committed(entry: Message): void {
    this.#take(roomView(entry.room), entry.room, [entry], Infinity);
  }

  /** Entries that run up to the present: apply, track, count the unread ones above `countAbove`. */
  #take(view: RoomView, room: string, entries: readonly Message[], countAbove: number): void {
    const stream = view.stream;
    const me = identity.value?.id;
    const myName = identity.value?.name;
    const watching = isWatching(room);
    batch(() => {
      let unread = 0;
      let mentions = 0;
      for (const entry of entries) {
        const fresh = stream?.see(entry.seq) ?? false;
        if (entry.kind !== "text") continue;
        setTyping(room, entry.author, false);
        if (
          fresh && !watching && entry.author.id !== me && entry.seq > countAbove &&
          entry.seq > view.readSeq.value
        ) {
          unread++;
          if (mentionsUser(entry, myName)) mentions++;
        }
      }
      commitEntries(room, entries);
      if (unread > 0) view.unread.value += unread;
      if (mentions > 0) view.mentions.value += mentions;
      if (stream) view.seenSeq.value = stream.contiguous;
    });
    if (stream?.hasGap) this.#scheduleGapFill(room);
  }

  #scheduleGapFill(room: string): void {
    if (this.#gapTimers.has(room) || this.#filling.has(room)) return;
    this.#gapTimers.set(
      room,
      setTimeout(() => {
        this.#gapTimers.delete(room);
        this.#fillGap(room);
      }, this.#reorderMs),
    );
  }

  /** Fetch what is missing after the contiguous seq, a page at a time, until caught up. */
  async #fillGap(room: string): Promise<void> {
    const view = roomView(room);
    const stream = view.stream;
    this.#filling.add(room);
    try {
      while (stream?.hasGap && view.stream === stream && view.joined.value === "yes") {
        const page = await this.#request("history", {
          room,
          after: stream.contiguous,
          limit: PAGE,
        });
        if (view.stream !== stream) return; // The timeline restarted meanwhile.
        this.#take(view, room, page.messages, -1);
        // The page holds every entry up to its last one, and to the present without more.
        stream.coverTo(page.hasMore ? page.messages.at(-1)?.seq ?? 0 : stream.latest);
        view.seenSeq.value = stream.contiguous;
        if (page.messages.length === 0) return;
      }
    } catch {
      // Lost the connection: the rejoin recovers from the contiguous seq.
    } finally {
      this.#filling.delete(room);
    }
  }

  /** Page back through older history; these pages never move the contiguous seq. */
  async loadEarlier(room: string): Promise<void> {
    const view = roomView(room);
    const before = view.oldest;
    if (before === null || !view.hasMore.value || view.loadingEarlier.value) return;
    const stream = view.stream;
    view.loadingEarlier.value = true;
    try {
      const page = await this.#request("history", { room, before, limit: PAGE });
      if (view.stream !== stream) return; // The timeline restarted meanwhile.
      batch(() => {
        commitEntries(room, page.messages);
        view.oldest = Math.min(before, page.messages[0]?.seq ?? before);
        view.hasMore.value = page.hasMore;
      });
    } catch (err) {
      view.error.value = (err as Error).message;
    } finally {
      view.loadingEarlier.value = false;
    }
  }

  async edit(room: string, seq: number, text: string): Promise<void> {
    const { message } = await this.#request("edit", { room, seq, text });
    this.committed(message);
  }

  async delete(room: string, seq: number): Promise<void> {
    const { message } = await this.#request("delete", { room, seq });
    this.committed(message);
  }

  /** The user is looking at the end of `room`: move the read marker there, soon. */
  scheduleRead(room: string): void {
    if (this.#readTimers.has(room)) return;
    this.#readTimers.set(
      room,
      setTimeout(() => {
        this.#readTimers.delete(room);
        this.#sendRead(room);
      }, this.#readDelayMs),
    );
  }

  async #sendRead(room: string): Promise<void> {
    const view = roomView(room);
    const seq = view.seenSeq.value;
    if (!isWatching(room) || view.joined.value !== "yes" || seq <= view.readSeq.value) return;
    try {
      const result = await this.#request("read", { room, seq });
      this.markRead(room, result.seq);
    } catch {
      // Not marked: the next look at the room tries again.
    }
  }

  /** The read marker moved to `seq`: our own `read`, or another device's (`read` push). */
  markRead(room: string, seq: number): void {
    const view = roomView(room);
    batch(() => {
      view.readSeq.value = Math.max(view.readSeq.value, seq);
      const left = unreadAfter(room, view.readSeq.value);
      if (left !== null) view.unread.value = Math.min(view.unread.value, left);
      if (view.mentions.value > 0) {
        const me = identity.value;
        // Without earlier pages held, only "all read" is certain.
        const mentions = left === null
          ? (view.readSeq.value >= view.seenSeq.value ? 0 : view.mentions.value)
          : view.messages.value.filter((m) =>
            m.seq > view.readSeq.value && m.author.id !== me?.id && mentionsUser(m, me?.name)
          ).length;
        view.mentions.value = Math.min(view.mentions.value, mentions);
      }
    });
  }

  /** A member read up to a seq (`receipt` push); markers only move forward. */
  receipt(room: string, receipt: Receipt): void {
    const view = roomView(room);
    const held = view.receipts.value.get(receipt.user.id);
    if (held && held.seq >= receipt.seq) return;
    view.receipts.value = new Map(view.receipts.value).set(receipt.user.id, receipt);
  }
}
