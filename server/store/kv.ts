/**
 * Deno KV Store, the default: one embedded file in the data directory.
 *
 * Appends are group-committed: everything queued while a commit is in flight goes
 * into the next atomic operation, so concurrent senders share one write instead of
 * paying one each. Each room's `seq` key is checked in that operation; any other
 * writer to the room (another worker on the same file, retention) changes it, so a
 * lost race is retried from fresh reads and seq stays gapless.
 *
 * A room's stream is stored in chunks: each batch writes the room's new entries as one
 * row, ["c", room, firstSeq] -> Message[] (split to stay under KV's 64 KiB per value).
 * Deno KV's cost is per row, so a batch of n entries over r rooms writes about r rows,
 * not n. An edit or delete rewrites the chunk that holds its target.
 *
 * Reactions live in rows of their own (kv_reactions.ts), and the search and mention index
 * in others (kv_search.ts); both are written in the same atomic commit as the entries.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import type { Member, Message, Retention } from "../../protocol/messages.ts";
import { applyRoomPatch, applyToTarget, countsAsUnread, DAY_MS, makeEntry } from "./entries.ts";
import { keyedRepositories } from "./keyed.ts";
import { backfillIndex, needsBackfill } from "./kv_backfill.ts";
import { createLogger, type Logger } from "../log.ts";
import { KvKeyValue } from "./keyed_kv.ts";
import { KvWriteCombiner } from "./kv_writes.ts";
import { KeyChanges, type RowChanges } from "./kv_changes.ts";
import {
  applyRows,
  attachReactions,
  REACTION_ROW_MAX_BYTES,
  reactionChanges,
  type ReactionRows,
  readReactionRows,
  withoutReactions,
  withRows,
} from "./kv_reactions.ts";
import {
  countMentions,
  type IndexRow,
  keyBytes,
  mentionChanges,
  mentionRows,
  searchKv,
} from "./kv_search.ts";
import { KvIndexer } from "./kv_indexer.ts";
import { blockOf, EDITS, INDEXED, postingEdit, POSTINGS, postingsOf } from "./kv_postings.ts";
import { busy, untilUnlocked } from "./kv_retry.ts";
import type {
  AppendResult,
  EntryDraft,
  EntryGuard,
  HistoryPage,
  HistoryQuery,
  NewRoom,
  PruneResult,
  ReadMarker,
  RoomPatch,
  RoomRecord,
  SearchPage,
  SearchQuery,
  Store,
} from "./types.ts";
import type { Repositories } from "./repositories.ts";

/**
 * Deno KV's own limits are 100 checks, 1000 mutations, 800 KiB of mutations and 80 KiB of
 * keys; stay clear of them. A batch writes per room a seq key and a chunk (or two), and
 * per edit or delete a rewritten chunk (or two); each room also costs a check. Keys are at
 * most ~50 bytes (room names are 32), so 900 of them stay under 80 KiB.
 */
const BATCH_MAX_MUTATIONS = 900;
/** What one commit may hold, checked exactly as it is built (KV's own caps: 1000, 80 KiB). */
const COMMIT_MAX_MUTATIONS = 990;
const COMMIT_MAX_KEY_BYTES = 76 * 1024;
/** Index rows retention deletes per round, before the round's checked commit. */
const PRUNE_SIDE_ROWS = 2000;
/** Each room of a commit adds two checks (its seq key and its yield key); KV allows 100. */
const BATCH_MAX_ROOMS = 49;
const BATCH_MAX_BYTES = 600 * 1024;
/** Entries per batch: beyond this a commit only grows longer, not cheaper per entry. */
const BATCH_MAX_ENTRIES = 2000;
/**
 * Entries per room per batch. One busy room gains little from more (its chunk is already
 * cheap), and a burst of thousands in flight at once swells the heap.
 */
const BATCH_MAX_PER_ROOM = 400;
/** A chunk's estimated size; KV refuses values over 64 KiB. */
const CHUNK_MAX_BYTES = 48 * 1024;
/** How long a deleted room's name stays held if its cleanup never finishes. */
const DELETING_MS = 10 * 60 * 1000;
/** The storage layout this code reads and writes: 2 is chunks, 1 was a row per entry. */
const LAYOUT = 2;
const GET_MANY_MAX = 10;
/** How long a batch keeps retrying commits lost to another writer before it fails. */
const COMMIT_GIVE_UP_MS = 10_000;
/** Lost races after which a batch commits one draft at a time, which wins sooner. */
const WHOLE_BATCH_ATTEMPTS = 4;
/**
 * A handle that keeps losing a room to a sibling worker asks it to yield: while
 * ["yield", room] exists, every other handle's commit to the room fails its check and backs
 * off, so the asker gets a quiet moment. One left by a handle that died is removed after this.
 */
const YIELD_STALE_MS = 250;
const SEQ_END = Number.MAX_SAFE_INTEGER;
/** A resend is recognised while its original is among the room's last this-many entries. */
export const NONCE_WINDOW = 10_000;
/** Rooms whose nonce windows stay in memory; others reload theirs when next written. */
const NONCE_WINDOW_ROOMS = 1000;

type StoredRoom = Omit<RoomRecord, "lastSeq">;

interface Pending {
  draft: EntryDraft;
  guard: EntryGuard | undefined;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

export interface KvStoreStats {
  commits: number;
  entries: number;
  retries: number;
}

export class KvStore implements Store {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  readonly #groupCommit: boolean;
  /** Drafts awaiting a commit: per room in call order, rooms in turn. */
  readonly #queue = new Map<string, Pending[]>();
  readonly #nonceWindows = new Map<string, NonceWindow>();
  #flushing: Promise<void> | null = null;
  #closing: Promise<void> | undefined;
  /** Each room's seq key as last read or committed here: its value and versionstamp. */
  readonly #seqKeys = new Map<string, Deno.KvEntryMaybe<number>>();
  /** Writes the search postings of committed entries, just after their commits. */
  readonly #indexer: KvIndexer;
  /** Unchecked writes (users, memberships, the keyed repositories), committed in groups. */
  readonly #writes: KvWriteCombiner;
  /** room -> versionstamp of the ["yield", room] key this handle set after losing races. */
  readonly #yields = new Map<string, string>();
  readonly stats: KvStoreStats = { commits: 0, entries: 0, retries: 0 };
  readonly #stopBackfill = new AbortController();
  /**
   * Entries stored before search get their index rows in the background after open
   * (kv_backfill.ts); resolves with how many this handle indexed.
   */
  backfill: Promise<number> = Promise.resolve(0);
  readonly accounts: Repositories["accounts"];
  readonly sessions: Repositories["sessions"];
  readonly invites: Repositories["invites"];
  readonly tickets: Repositories["tickets"];
  readonly loginFailures: Repositories["loginFailures"];
  readonly access: Repositories["access"];
  readonly modlog: Repositories["modlog"];
  readonly webhooks: Repositories["webhooks"];
  readonly apiKeys: Repositories["apiKeys"];

  private constructor(kv: Deno.Kv, readonly epoch: string, options: KvStoreOptions) {
    this.#kv = kv;
    this.#indexer = new KvIndexer(kv);
    this.#writes = new KvWriteCombiner(kv);
    ({
      accounts: this.accounts,
      sessions: this.sessions,
      invites: this.invites,
      tickets: this.tickets,
      loginFailures: this.loginFailures,
      access: this.access,
      modlog: this.modlog,
      webhooks: this.webhooks,
      apiKeys: this.apiKeys,
    } = keyedRepositories(new KvKeyValue(kv, this.#writes)));
    this.#now = options.now ?? Date.now;
    this.#groupCommit = options.groupCommit ?? true;
  }

  /** Open (or create) the store at `path`; `:memory:` gives a throwaway KV. */
  static async open(path: string, options: KvStoreOptions = {}): Promise<KvStore> {
    if (typeof Deno.openKv !== "function") {
      throw new Error("Deno KV is disabled: run with --unstable-kv (deno.json turns it on).");
    }
    const kv = await Deno.openKv(path);
    const epoch = await ensureEpoch(kv);
    await migrateToChunks(kv);
    const store = new KvStore(kv, epoch, options);
    if (await needsBackfill(kv)) {
      store.backfill = backfillIndex(kv, {
        log: options.log ?? createLogger("info"),
        signal: store.#stopBackfill.signal,
      }).catch(() => 0);
    }
    return store;
  }

  // ---- rooms --------------------------------------------------------------------------

  async createRoom(room: NewRoom): Promise<RoomRecord | null> {
    const stored: StoredRoom = {
      name: room.name,
      kind: room.kind ?? "public",
      title: room.title ?? "",
      topic: room.topic,
      createdBy: room.createdBy,
      createdAt: this.#now(),
      receipts: room.receipts ?? false,
      ...(room.retention ? { retention: room.retention } : {}),
    };
    const result = await untilUnlocked(() =>
      this.#kv.atomic()
        .check({ key: ["room", room.name], versionstamp: null })
        .check({ key: ["deleting", room.name], versionstamp: null })
        .set(["room", room.name], stored)
        .set(["seq", room.name], 0)
        .commit()
    );
    return result.ok ? { ...stored, lastSeq: 0 } : null;
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    const [room, seq] = await this.#kv.getMany<[StoredRoom, number]>([["room", name], [
      "seq",
      name,
    ]]);
    return room.value ? withDefaults({ ...room.value, lastSeq: seq.value ?? 0 }) : null;
  }

  async listRooms(): Promise<RoomRecord[]> {
    const rooms: StoredRoom[] = [];
    for await (const entry of this.#kv.list<StoredRoom>({ prefix: ["room"] })) {
      rooms.push(entry.value);
    }
    const seqs = await this.#getMany<number>(rooms.map((r) => ["seq", r.name]));
    return rooms.map((room, i) => withDefaults({ ...room, lastSeq: seqs[i]?.value ?? 0 }));
  }

  async updateRoom(name: string, patch: RoomPatch): Promise<RoomRecord | null> {
    for (;;) {
      const current = await this.#kv.get<StoredRoom>(["room", name]);
      if (!current.value) return null;
      const next = applyRoomPatch(current.value, patch);
      const result = await untilUnlocked(() =>
        this.#kv.atomic().check(current).set(["room", name], next).commit()
      );
      if (result.ok) return await this.getRoom(name);
    }
  }

  // ---- the stream -----------------------------------------------------------------------

  append(draft: EntryDraft, guard?: EntryGuard): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const pending = { draft, guard, resolve, reject };
      const waiting = this.#queue.get(draft.room);
      if (waiting) waiting.push(pending);
      else this.#queue.set(draft.room, [pending]);
      // Everything appended in this same tick joins the batch; later ones wait for it.
      this.#flushing ??= Promise.resolve().then(() => this.#flushLoop());
    });
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#queue.size > 0) {
        const batch = this.#takeBatch();
        try {
          await this.#commitBatch(batch);
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#flushing = null;
    }
  }

  /**
   * The next batch, within KV's limits: each room in turn gives the longest prefix of its
   * drafts that fits, so every room still commits in call order. A room with drafts left
   * goes to the back, so no room waits behind others that keep sending. The work is in
   * what is taken, not in how long the queue is.
   */
  #takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let bytes = 0;
    let mutations = 0;
    let rooms = 0;
    const behind: [string, Pending[]][] = [];
    for (const [room, waiting] of this.#queue) {
      if (rooms >= BATCH_MAX_ROOMS || batch.length >= BATCH_MAX_ENTRIES) break;
      // A room adds its seq key and a chunk (two rows if a rewrite splits it).
      if (mutations + 3 > BATCH_MAX_MUTATIONS) break;
      const limit = this.#groupCommit ? BATCH_MAX_PER_ROOM : 1;
      let taken = 0;
      for (; taken < waiting.length && taken < limit; taken++) {
        const pending = waiting[taken]!;
        const { draft } = pending;
        // An edit or delete also rewrites its target's chunk, whole, and writes a posting
        // edit; a reaction writes a row of its own. A delete removes mention rows: a
        // guess here, counted exactly by #tryCommit, which defers what overflows.
        const rewrites = draft.kind === "edit" || draft.kind === "delete" ? 2 : 0;
        const indexed = draft.kind === "text"
          ? draft.mentions?.length ?? 0
          : draft.kind === "delete"
          ? 40
          : 2;
        const own = entryBytes(draft);
        const size = (rewrites ? 2 * own + CHUNK_MAX_BYTES : own) +
          (draft.kind === "react" ? REACTION_ROW_MAX_BYTES : 0);
        const full = bytes + size > BATCH_MAX_BYTES ||
          mutations + 3 + rewrites + indexed > BATCH_MAX_MUTATIONS ||
          batch.length >= BATCH_MAX_ENTRIES;
        if (full && batch.length > 0) break;
        bytes += size;
        mutations += rewrites + indexed;
        batch.push(waiting[taken]!);
      }
      if (taken === 0) continue;
      rooms++;
      mutations += 3;
      this.#queue.delete(room);
      if (taken < waiting.length) behind.push([room, waiting.slice(taken)]);
      if (!this.#groupCommit) break;
    }
    for (const [room, rest] of behind) this.#queue.set(room, rest);
    return batch;
  }

  /** Commit one batch, retrying from fresh reads when another writer got there first. */
  async #commitBatch(batch: Pending[]): Promise<void> {
    let pending = batch;
    let lost = 0;
    let single = false;
    let giveUpAt = performance.now() + COMMIT_GIVE_UP_MS;
    while (pending.length > 0) {
      if (lost > 0) {
        if (performance.now() > giveUpAt) throw new Error("KV append kept losing races; giving up");
        this.stats.retries++;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** lost)));
      }
      // A sibling worker busy on the same room can win every race against a large batch,
      // whose reads and writes take longer: after a few losses, one draft at a time, each
      // asking the others to yield. Drafts still commit in call order.
      single ||= lost >= WHOLE_BATCH_ATTEMPTS;
      const room = pending[0]!.draft.room;
      if (single && !this.#yields.has(room)) await this.#askToYield(room);
      const retry = await this.#tryCommit(single ? pending.slice(0, 1) : pending);
      pending = single ? [...retry, ...pending.slice(1)] : retry;
      if (retry.length > 0) lost++;
      else {
        lost = 0;
        giveUpAt = performance.now() + COMMIT_GIVE_UP_MS;
      }
    }
  }

  /** One attempt. Settles what it can and returns what must be retried. */
  async #tryCommit(batch: Pending[]): Promise<Pending[]> {
    const ts = this.#now();
    const rooms = [...new Set(batch.map((p) => p.draft.room))];
    // A room's seq key as this handle last committed it needs no read: if anyone else has
    // written it since, the check fails and the retry reads it afresh.
    const unknown = rooms.filter((room) => !this.#seqKeys.has(room));
    const read = await this.#getMany<number>(unknown.map((r) => ["seq", r]));
    unknown.forEach((room, i) => this.#rememberSeq(room, read[i]!));
    const seqs = new Map<string, { next: number; check: Deno.KvEntryMaybe<number> }>();
    for (const room of rooms) {
      const entry = this.#seqKeys.get(room);
      if (entry && entry.value !== null) seqs.set(room, { next: entry.value + 1, check: entry });
    }

    // Reads that decide duplicates and targets; they stay valid while the seq checks hold.
    const windows = new Map<string, NonceWindow>();
    await Promise.all([...seqs].map(async ([room, { check }]) => {
      windows.set(room, await this.#nonceWindow(room, check.value!));
    }));
    const duplicateOf = new Map<Pending, number>();
    for (const p of batch) {
      if (p.draft.kind !== "text") continue;
      const seq = windows.get(p.draft.room)?.seqs.get(nonceKey(p.draft));
      if (seq !== undefined) duplicateOf.set(p, seq);
    }
    // The stored chunks this batch reads: its edits' and deletes' targets, and the
    // originals of resends. One copy per chunk, so several edits to it all land.
    const wanted: [string, number][] = [
      ...batch.flatMap((p) =>
        p.draft.kind === "text" ? [] : [[p.draft.room, p.draft.target] as [string, number]]
      ),
      ...[...duplicateOf].map(([p, seq]): [string, number] => [p.draft.room, seq]),
    ];
    const found = await Promise.all(wanted.map(([room, seq]) => this.#chunkAt(room, seq)));
    // Their reaction rows too: what is stored, and on the copies this batch works on.
    const rxBefore = new Map<string, ReactionRows>();
    await Promise.all(
      [...new Set(wanted.map(([room, seq]) => `${room}\n${seq}`))].map(async (key) => {
        const [room, seq] = splitKey(key);
        rxBefore.set(key, await readReactionRows(this.#kv, room, seq));
      }),
    );
    const loaded = new Map<string, StoredChunk>();
    const holding = new Map<string, StoredChunk>();
    wanted.forEach(([room, seq], i) => {
      const entry = found[i];
      if (!entry) return;
      const id = `${room}\n${entry.value[0]!.seq}`;
      let chunk = loaded.get(id);
      if (!chunk) {
        const messages = entry.value.map((m) => withRows(m, rxBefore.get(`${room}\n${m.seq}`)));
        loaded.set(id, chunk = { room, messages, dirty: false });
      }
      holding.set(`${room}\n${seq}`, chunk);
    });
    const stored = (room: string, seq: number) =>
      holding.get(`${room}\n${seq}`)?.messages.find((m) => m.seq === seq);

    const op = this.#kv.atomic();
    for (const { check } of seqs.values()) op.check(check);
    for (const room of seqs.keys()) {
      const mine = this.#yields.get(room);
      if (mine) op.check({ key: ["yield", room], versionstamp: mine }).delete(["yield", room]);
      else op.check({ key: ["yield", room], versionstamp: null });
    }
    const committed: [Pending, AppendResult][] = [];
    /** room -> this batch's new entries, in seq order */
    const fresh = new Map<string, Message[]>();
    /** room -> nonces committed by this batch, in seq order */
    const newNonces = new Map<string, Map<string, Message>>();
    /** Index and reaction rows; each room's seq key and chunks are counted up front. */
    const side = new KeyChanges();
    side.mutations = 3 * seqs.size;
    side.keyBytes = [...seqs.keys()].reduce((n, room) => n + 3 * keyBytes(["c", room, 0]), 0);
    /** room\nseq -> a message's reaction rows as this batch leaves them */
    const rxNow = new Map(rxBefore);
    /** Drafts left for the next commit, with every later one of their rooms. */
    const deferred: Pending[] = [];
    const deferredRooms = new Set<string>();
    let admitted = 0;

    for (const p of batch) {
      const { draft } = p;
      const seq = seqs.get(draft.room);
      if (!seq) {
        p.reject(new ProtocolError("room_not_found", `No room named "${draft.room}".`));
        continue;
      }
      if (deferredRooms.has(draft.room)) {
        deferred.push(p);
        continue;
      }
      let roomNonces = newNonces.get(draft.room);
      if (!roomNonces) newNonces.set(draft.room, roomNonces = new Map());
      const message = makeEntry(draft, seq.next, ts, this.epoch);
      let changes: RowChanges[];
      /** A new text entry's index rows, which need no merging. */
      let newRows: IndexRow[] | undefined;
      let apply = () => {};
      /** A chunk rewritten for this draft, as the first change to it: up to two rows. */
      let rewrite = false;
      if (draft.kind === "text") {
        const dup = duplicateOf.get(p);
        const original = dup === undefined ? undefined : stored(draft.room, dup);
        // The entry must still be that send: a room deleted and made anew under the same
        // name by another handle leaves this one's window pointing at someone else's.
        const same = original?.author.id === draft.author.id && original.nonce === draft.nonce;
        const earlier = (same ? original : undefined) ?? roomNonces.get(nonceKey(draft));
        if (earlier) {
          committed.push([p, { message: earlier, duplicate: true }]);
          continue;
        }
        newRows = mentionRows(message);
        changes = [{ set: newRows, remove: [] }];
      } else {
        // The target may be stored, or new in this very batch (a send and its edit
        // queued together).
        const earlierInBatch = fresh.get(draft.room);
        const firstNew = earlierInBatch?.[0]?.seq ?? Infinity;
        const chunk = holding.get(`${draft.room}\n${draft.target}`);
        const rows = draft.target >= firstNew ? earlierInBatch! : chunk?.messages ?? [];
        const at = rows.findIndex((m) => m.seq === draft.target);
        let after: Message;
        try {
          after = applyToTarget(draft, rows[at], ts, p.guard); // throws when at is -1
        } catch (error) {
          p.reject(error);
          continue;
        }
        const key = `${draft.room}\n${draft.target}`;
        const rx = reactionChanges(
          draft.room,
          draft.target,
          rxNow.get(key) ?? new Map(),
          after.reactions,
        );
        const edit = postingEdit(rows[at], after);
        const editRows: [Deno.KvKey, unknown][] = edit
          ? [[[EDITS, draft.room, message.seq], edit]]
          : [];
        changes = [mentionChanges(rows[at], after), { set: editRows, remove: [] }, rx];
        // A reaction leaves the chunk as it is: its rows are apart.
        rewrite = draft.kind !== "react" && rows !== earlierInBatch && !chunk!.dirty;
        apply = () => {
          rows[at] = after;
          if (rewrite) chunk!.dirty = true;
          rxNow.set(key, applyRows(rxNow.get(key), rx));
        };
      }
      const cost = KeyChanges.cost(changes);
      if (rewrite) {
        cost.mutations += 2;
        cost.keyBytes += 2 * keyBytes(["c", draft.room, 0]);
      }
      if (
        admitted > 0 && (side.mutations + cost.mutations > COMMIT_MAX_MUTATIONS ||
          side.keyBytes + cost.keyBytes > COMMIT_MAX_KEY_BYTES)
      ) {
        deferredRooms.add(draft.room);
        deferred.push(p);
        continue;
      }
      admitted++;
      apply();
      if (newRows) side.addFresh(newRows, cost);
      else side.add(changes);
      if (rewrite) {
        side.mutations += 2;
        side.keyBytes += 2 * keyBytes(["c", draft.room, 0]);
      }
      seq.next++;
      let entries = fresh.get(draft.room);
      if (!entries) fresh.set(draft.room, entries = []);
      entries.push(message);
      if (draft.kind === "text") roomNonces.set(nonceKey(draft), message);
      committed.push([p, { message, duplicate: false }]);
    }
    side.applyTo(op);
    // Back to the front of their rooms' queues: the next commit takes them first.
    for (const room of deferredRooms) {
      const mine = deferred.filter((p) => p.draft.room === room);
      this.#queue.set(room, [...mine, ...this.#queue.get(room) ?? []]);
    }
    for (const chunk of [...loaded.values()].filter((c) => c.dirty)) {
      // A rewrite keeps its key for the first part; growth past the cap spills over.
      const messages = chunk.messages.map(withoutReactions);
      for (const part of splitChunks(messages)) op.set(["c", chunk.room, part[0]!.seq], part);
    }
    for (const [room, entries] of fresh) {
      for (const part of splitChunks(entries.map(withoutReactions))) {
        op.set(["c", room, part[0]!.seq], part);
      }
    }
    // Nonces are not written apart: each text entry carries its own, and a window that
    // falls behind is filled from the entries themselves.
    for (const [room, { next, check }] of seqs) {
      if (next - 1 !== check.value) op.set(["seq", room], next - 1);
    }
    if (!committed.some(([, r]) => !r.duplicate)) {
      // Nothing to write, so no check would catch a stale cache (a room another handle
      // deleted and made anew): read the seq keys instead.
      const current = await this.#getMany<number>([...seqs.keys()].map((room) => ["seq", room]));
      const stale = [...seqs].filter(([, { check }], i) =>
        current[i]!.versionstamp !== check.versionstamp
      );
      if (stale.length > 0) {
        for (const [room] of stale) this.#seqKeys.delete(room);
        return committed.map(([p]) => p);
      }
      for (const [p, result] of committed) p.resolve(result);
      return [];
    }
    const result = await busy(() => op.commit(), null);
    if (!result?.ok) {
      for (const room of rooms) this.#seqKeys.delete(room);
      await this.#reviewYields([...seqs.keys()]);
      return committed.map(([p]) => p);
    }
    for (const room of seqs.keys()) this.#yields.delete(room);
    for (const [room, { next, check }] of seqs) {
      if (next - 1 !== check.value) {
        this.#rememberSeq(room, {
          key: ["seq", room],
          value: next - 1,
          versionstamp: result.versionstamp,
        });
      }
    }
    for (const [room, { next, check }] of seqs) {
      const window = windows.get(room)!;
      if (window.through !== check.value) continue;
      for (const [key, m] of newNonces.get(room)!) window.seqs.set(key, m.seq);
      window.through = next - 1;
      trimWindow(window);
    }
    this.stats.commits++;
    for (const [room, entries] of fresh) {
      if (entries.some((m) => m.kind === "text")) this.#indexer.touched(room);
    }
    this.stats.entries += committed.filter(([, r]) => !r.duplicate).length;
    for (const [p, r] of committed) p.resolve(r);
    return [];
  }

  /** Ask other handles to leave `room` to this one for its next commit. */
  async #askToYield(room: string): Promise<void> {
    const result = await busy(() => this.#kv.set(["yield", room], this.#now()), null);
    if (result?.ok) this.#yields.set(room, result.versionstamp);
  }

  /** After a lost race: forget a yield someone removed; remove one its owner left behind. */
  async #reviewYields(rooms: string[]): Promise<void> {
    const keys = rooms.map((room) => ["yield", room]);
    const current = await this.#getMany<number>(keys);
    await Promise.all(current.map(async (entry, i) => {
      const room = rooms[i]!;
      const mine = this.#yields.get(room);
      if (mine !== undefined) {
        if (entry.versionstamp !== mine) this.#yields.delete(room);
        return;
      }
      if (entry.value !== null && this.#now() - entry.value > YIELD_STALE_MS) {
        await busy(() => this.#kv.atomic().check(entry).delete(entry.key).commit(), null);
      }
    }));
  }

  #rememberSeq(room: string, entry: Deno.KvEntryMaybe<number>): void {
    if (entry.versionstamp === null) {
      this.#seqKeys.delete(room);
      return;
    }
    this.#seqKeys.delete(room); // re-insert: most recently used last
    this.#seqKeys.set(room, entry);
    if (this.#seqKeys.size > NONCE_WINDOW_ROOMS) {
      this.#seqKeys.delete(this.#seqKeys.keys().next().value!);
    }
  }

  /**
   * The room's recent nonces, current through `seq`. Only entries committed since the
   * window was last brought up to date are read: none at all while this handle is the
   * room's only writer, since every commit moves the checked seq key. A room new to this
   * handle (after a restart, say) reads its last NONCE_WINDOW entries, once: a few dozen
   * chunks in a busy room.
   */
  async #nonceWindow(room: string, seq: number): Promise<NonceWindow> {
    let window = this.#nonceWindows.get(room);
    if (window) this.#nonceWindows.delete(room); // re-insert: most recently used last
    // A window ahead of the room's seq belongs to a room deleted and made anew.
    if (!window || window.through > seq) {
      window = { through: Math.max(0, seq - NONCE_WINDOW), seqs: new Map() };
    }
    this.#nonceWindows.set(room, window);
    if (this.#nonceWindows.size > NONCE_WINDOW_ROOMS) {
      this.#nonceWindows.delete(this.#nonceWindows.keys().next().value!);
    }
    if (window.through < seq) {
      // Nothing older than the window would be kept, so nothing older is read.
      const from = Math.max(window.through, seq - NONCE_WINDOW) + 1;
      for await (const m of this.#entries(room, from, seq + 1)) {
        if (m.kind === "text" && m.nonce !== undefined) {
          window.seqs.set(`${m.author.id}\n${m.nonce}`, m.seq);
        }
      }
      window.through = seq;
      trimWindow(window);
    }
    return window;
  }

  /** The stored chunk holding `seq`: the last one to start at or before it, if it has it. */
  async #chunkAt(room: string, seq: number): Promise<Deno.KvEntry<Message[]> | null> {
    const head = await this.#chunkFrom(room, seq);
    return head?.value.some((m) => m.seq === seq) ? head : null;
  }

  /** The last chunk of the room to start at or before `seq`. */
  async #chunkFrom(room: string, seq: number): Promise<Deno.KvEntry<Message[]> | null> {
    const selector = { start: ["c", room, 0], end: ["c", room, seq + 1] };
    for await (const entry of this.#kv.list<Message[]>(selector, { reverse: true, limit: 1 })) {
      return entry;
    }
    return null;
  }

  /** The room's entries with `from` ≤ seq < `to`: oldest first, or newest first. */
  async *#entries(
    room: string,
    from: number,
    to: number,
    options: { reverse?: boolean; limit?: number } = {},
  ): AsyncGenerator<Message> {
    let left = options.limit ?? Infinity;
    if (left <= 0 || from >= to) return;
    if (options.reverse) {
      const selector = { start: ["c", room, 0], end: ["c", room, to] };
      // A chunk re-keyed mid-scan (retention cutting it, an edit spilling it) is met
      // again under its new key: skip what was already yielded.
      let below = to;
      // Chunks hold many entries each: a page needs a few of them, not a hundred.
      for await (
        const { value } of this.#kv.list<Message[]>(selector, { reverse: true, batchSize: 4 })
      ) {
        for (let i = value.length - 1; i >= 0; i--) {
          const m = value[i]!;
          if (m.seq >= below) continue;
          if (m.seq < from) return;
          below = m.seq;
          yield m;
          if (--left === 0) return;
        }
      }
      return;
    }
    // The chunk holding `from` may start before it.
    const start = (await this.#chunkFrom(room, from))?.key[2] ?? from;
    const selector = { start: ["c", room, start], end: ["c", room, to] };
    let next = from;
    for await (const { value } of this.#kv.list<Message[]>(selector, { batchSize: 8 })) {
      for (const m of value) {
        if (m.seq < next) continue; // before `from`, or met again under a moved key
        if (m.seq >= to) return;
        next = m.seq + 1;
        yield m;
        if (--left === 0) return;
      }
    }
  }

  async history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    if (!(await this.#kv.get(["seq", room])).versionstamp) {
      throw new ProtocolError("room_not_found");
    }
    const end = query.before ?? SEQ_END;
    const messages: Message[] = [];
    const limit = query.limit + 1;
    if (query.after !== undefined) {
      for await (const m of this.#entries(room, query.after + 1, end, { limit })) messages.push(m);
      const hasMore = messages.length > query.limit;
      return {
        messages: await attachReactions(this.#kv, room, messages.slice(0, query.limit)),
        hasMore,
      };
    }
    for await (const m of this.#entries(room, 0, end, { limit, reverse: true })) messages.push(m);
    const hasMore = messages.length > query.limit;
    const page = messages.slice(0, query.limit).reverse();
    return { messages: await attachReactions(this.#kv, room, page), hasMore };
  }

  async firstSeq(room: string): Promise<number> {
    return (await this.#kv.get<number>(["first", room])).value ?? 1;
  }

  // ---- users, membership, read markers ----------------------------------------------------

  putUser(user: Member): Promise<void> {
    return this.#writes.write({
      type: "set",
      key: ["user", user.id],
      value: { id: user.id, name: user.name },
    });
  }

  async getUser(id: string): Promise<Member | null> {
    return (await this.#kv.get<Member>(["user", id])).value;
  }

  addMember(room: string, userId: string): Promise<void> {
    return this.#writes.write(
      { type: "set", key: ["member", room, userId], value: true },
      { type: "set", key: ["urooms", userId, room], value: true },
    );
  }

  removeMember(room: string, userId: string): Promise<void> {
    return this.#writes.write(
      { type: "delete", key: ["member", room, userId] },
      { type: "delete", key: ["urooms", userId, room] },
    );
  }

  async roomsOf(userId: string): Promise<string[]> {
    const rooms: string[] = [];
    for await (const e of this.#kv.list({ prefix: ["urooms", userId] })) {
      rooms.push(e.key[2] as string);
    }
    return rooms;
  }

  async membersOf(room: string): Promise<string[]> {
    const users: string[] = [];
    for await (const e of this.#kv.list({ prefix: ["member", room] })) {
      users.push(e.key[2] as string);
    }
    return users;
  }

  async isMember(room: string, userId: string): Promise<boolean> {
    return (await this.#kv.get(["member", room, userId])).versionstamp !== null;
  }

  async deleteRoom(name: string, clearAlso?: () => Promise<void>): Promise<boolean> {
    while (this.#flushing) await this.#flushing;
    const existing = await this.#kv.get(["room", name]);
    if (!existing.versionstamp) return false;
    const members = await this.membersOf(name);
    // The room record goes first, so nothing new is appended while the rest is cleared,
    // and a marker holds the name meanwhile: a room made anew under it must not lose its
    // first entries to this cleanup. The marker expires, should this process die here.
    const claimed = await untilUnlocked(() =>
      this.#kv.atomic().check(existing).delete(["room", name]).delete(["seq", name])
        .delete(["first", name]).set(["deleting", name], true, { expireIn: DELETING_MS })
        .commit()
    );
    if (!claimed.ok) return false; // someone else deleted it first
    try {
      for (const user of members) await this.removeMember(name, user);
      for (
        const prefix of [
          ["c", name],
          ["read", name],
          ["rx", name],
          [POSTINGS, name],
          [EDITS, name],
          ["mx", name],
        ]
      ) {
        // The marker goes first: a room made anew under the name is indexed from seq 1.
        if (prefix[0] === "c") await untilUnlocked(() => this.#kv.delete([INDEXED, name]));
        await this.#deletePrefix(prefix);
      }
      await clearAlso?.();
    } finally {
      await untilUnlocked(() => this.#kv.delete(["deleting", name]));
    }
    this.#nonceWindows.delete(name);
    this.#seqKeys.delete(name);
    return true;
  }

  async #deletePrefix(prefix: Deno.KvKey): Promise<void> {
    let keys: Deno.KvKey[] = [];
    for await (const e of this.#kv.list({ prefix })) {
      keys.push(e.key);
      if (keys.length >= 500) {
        await this.#deleteKeys(keys);
        keys = [];
      }
    }
    await this.#deleteKeys(keys);
  }

  /** Blind deletes, 500 per atomic operation (well inside 80 KiB of keys). */
  async #deleteKeys(keys: Deno.KvKey[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 500) {
      const op = this.#kv.atomic();
      for (const key of keys.slice(i, i + 500)) op.delete(key);
      await untilUnlocked(() => op.commit());
    }
  }

  async setReadMarker(
    room: string,
    userId: string,
    seq: number,
  ): Promise<{ seq: number; moved: boolean }> {
    for (;;) {
      const [current, last] = await this.#kv.getMany<[number, number]>([
        ["read", room, userId],
        ["seq", room],
      ]);
      if (last.value === null) throw new ProtocolError("room_not_found");
      const before = current.value ?? 0;
      const marker = Math.max(before, Math.min(seq, last.value));
      if (marker === before) return { seq: marker, moved: false };
      const result = await untilUnlocked(() =>
        this.#kv.atomic().check(current).set(["read", room, userId], marker).commit()
      );
      if (result.ok) return { seq: marker, moved: true };
    }
  }

  async readMarker(room: string, userId: string): Promise<number> {
    return (await this.#kv.get<number>(["read", room, userId])).value ?? 0;
  }

  async readMarkers(room: string): Promise<ReadMarker[]> {
    const markers: ReadMarker[] = [];
    for await (const e of this.#kv.list<number>({ prefix: ["read", room] })) {
      markers.push({ userId: e.key[2] as string, seq: e.value });
    }
    return markers;
  }

  async unreadCount(room: string, userId: string, cap: number): Promise<number> {
    const marker = await this.readMarker(room, userId);
    let count = 0;
    // Edits and deletions are entries too; scan a bounded window rather than the whole tail.
    for await (const m of this.#entries(room, marker + 1, SEQ_END, { limit: cap * 4 })) {
      if (countsAsUnread(m, userId) && ++count >= cap) break;
    }
    return count;
  }

  async unreadMentions(
    room: string,
    userId: string,
    names: string[],
    cap: number,
  ): Promise<number> {
    if (cap <= 0 || names.length === 0) return 0;
    const marker = await this.readMarker(room, userId);
    return await countMentions(this.#kv, room, userId, names, marker, cap);
  }

  /** Over the inverted index kept with the entries (kv_search.ts). */
  async search(query: SearchQuery): Promise<SearchPage> {
    await this.#indexer.catchUp(new Set(query.rooms));
    return await searchKv(this.#kv, query);
  }

  // ---- retention ------------------------------------------------------------------------

  async prune(room: string, retention: Retention, now: number): Promise<PruneResult> {
    let removed = 0;
    for (;;) {
      const [seqEntry, firstEntry] = await this.#kv.getMany<[number, number]>([["seq", room], [
        "first",
        room,
      ]]);
      if (seqEntry.value === null) return { removed };
      const first = firstEntry.value ?? 1;
      const last = seqEntry.value;
      let cut = first; // first seq to keep
      if (retention.maxCount !== undefined) cut = Math.max(cut, last - retention.maxCount + 1);
      const cutoff = retention.maxAgeDays === undefined
        ? -Infinity
        : now - retention.maxAgeDays * DAY_MS;
      const op = this.#kv.atomic().check(seqEntry).check(firstEntry);
      // Whole chunks before the first kept entry go; the chunk holding it is rewritten
      // from there. At most 200 chunks per atomic operation.
      let doomed = 0;
      let firstKept = first;
      let chunks = 0;
      /** The mention rows of what goes: deleted first, a bounded number per round. */
      const sideKeys: Deno.KvKey[] = [];
      /** What the entries that go are found by: their posting rows go too. */
      const postings = new Set<string>();
      const selector = { start: ["c", room, 0], end: ["c", room, SEQ_END] };
      for await (const { key, value } of this.#kv.list<Message[]>(selector, { batchSize: 16 })) {
        let keep = value.findIndex((m) => m.seq >= cut && m.ts >= cutoff);
        const end = keep === -1 ? value.length : keep;
        let i = 0;
        for (; i < end; i++) {
          const rows = mentionRows(value[i]);
          const found = postingsOf(value[i]);
          const side = sideKeys.length + postings.size;
          if (side + rows.length + found.length > PRUNE_SIDE_ROWS && (doomed > 0 || i > 0)) break;
          for (const [row] of rows) sideKeys.push(row);
          for (const p of found) postings.add(p);
        }
        if (i < end) keep = i;
        if (keep === 0) break;
        op.delete(key);
        if (keep === -1) {
          doomed += value.length;
          firstKept = value.at(-1)!.seq + 1;
          if (++chunks >= 200) break;
          continue;
        }
        const rest = value.slice(keep);
        op.set(["c", room, rest[0]!.seq], rest);
        doomed += keep;
        firstKept = rest[0]!.seq;
        break;
      }
      if (doomed === 0) return { removed };
      // Index and reaction rows go before their entries: should this round lose its check,
      // the next deletes them again (as they are then), and none is ever left behind.
      const rx = { start: ["rx", room, 0], end: ["rx", room, firstKept] };
      for await (const e of this.#kv.list(rx)) sideKeys.push(e.key);
      const edits = { start: [EDITS, room, 0], end: [EDITS, room, firstKept] };
      for await (const e of this.#kv.list(edits)) sideKeys.push(e.key);
      // Posting rows of blocks wholly before the first kept entry go; those of the block
      // holding it lose the hits before it.
      const trimmed: [Deno.KvKey, number[]][] = [];
      for (const p of postings) {
        const end = [POSTINGS, room, p, blockOf(firstKept) + 1];
        for await (const e of this.#kv.list<number[]>({ start: [POSTINGS, room, p, 0], end })) {
          const kept = e.value.filter((_, i) => e.value[i - (i % 2)]! >= firstKept);
          if (kept.length === 0) sideKeys.push(e.key);
          else if (kept.length < e.value.length) trimmed.push([e.key, kept]);
        }
      }
      // A block row holds at most 256 hits (about 3 KiB): 100 fit in one commit.
      for (let i = 0; i < trimmed.length; i += 100) {
        const op = this.#kv.atomic();
        for (const [key, value] of trimmed.slice(i, i + 100)) op.set(key, value);
        await untilUnlocked(() => op.commit());
      }
      await this.#deleteKeys(sideKeys);
      // Rewriting seq (same value) makes concurrent appends re-read, so none resurrects a
      // pruned target.
      op.set(["first", room], firstKept).set(["seq", room], last);
      if ((await untilUnlocked(() => op.commit())).ok) removed += doomed;
      this.#seqKeys.delete(room);
    }
  }

  /** Commit what is queued, then close the database. A second call joins the first. */
  close(): Promise<void> {
    this.#stopBackfill.abort();
    return this.#closing ??= (async () => {
      while (this.#flushing) await this.#flushing;
      await this.#writes.settled();
      await this.backfill;
      await this.#indexer.close();
      this.#kv.close();
    })();
  }

  /**
   * getMany without its 10-key limit: the chunks are read concurrently. A sibling worker
   * opening or checkpointing the file can make a read report "database is locked" too.
   */
  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const chunks: Deno.KvKey[][] = [];
    for (let i = 0; i < keys.length; i += GET_MANY_MAX) {
      chunks.push(keys.slice(i, i + GET_MANY_MAX));
    }
    const results = await Promise.all(
      chunks.map((chunk) => untilUnlocked(() => this.#kv.getMany<T[]>(chunk))),
    );
    return results.flat();
  }
}

/** Rooms written before kinds and titles existed are public and untitled. */
function withDefaults(record: RoomRecord): RoomRecord {
  return { ...record, kind: record.kind ?? "public", title: record.title ?? "" };
}

export interface KvStoreOptions {
  now?: () => number;
  /** False commits one entry per atomic operation; only the benchmark's baseline wants it. */
  groupCommit?: boolean;
  /** For the search backfill's progress (default: info to stderr). */
  log?: Pick<Logger, "info" | "warn">;
}

type TextDraft = Extract<EntryDraft, { kind: "text" }>;

/** A stored chunk a batch has read, to rewrite if an edit or delete changes it. */
interface StoredChunk {
  room: string;
  messages: Message[];
  dirty: boolean;
}

/**
 * An upper bound on an entry's size in KV: V8 stores a string in at most 2 bytes per
 * code unit, and the field names, numbers and tags fit in the rest.
 */
function entryBytes(e: { room: string; author: Member; text?: string; nonce?: string }): number {
  const chars = 2 * e.room.length + e.author.id.length + e.author.name.length +
    (e.text?.length ?? 0) + (e.nonce?.length ?? 0) + 32;
  return 2 * chars + 160;
}

/** Consecutive entries in runs under CHUNK_MAX_BYTES each. */
function splitChunks(messages: Message[]): Message[][] {
  const parts: Message[][] = [];
  let part: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = entryBytes(m);
    if (part.length > 0 && bytes + size > CHUNK_MAX_BYTES) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(m);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/**
 * Layout 1 kept a row per entry (["e", room, seq]) and nonce rows (["nb", ...]). Move the
 * entries into chunks, 99 rows per atomic operation, each row checked: a sibling worker
 * migrating at the same time cannot convert a row twice.
 */
async function migrateToChunks(kv: Deno.Kv): Promise<void> {
  if ((await kv.get<number>(["meta", "layout"])).value === LAYOUT) return;
  for (;;) {
    const rows: Deno.KvEntry<Message>[] = [];
    let bytes = 0;
    for await (const row of kv.list<Message>({ prefix: ["e"] }, { limit: 99 })) {
      rows.push(row);
      bytes += entryBytes(row.value);
      if (bytes > 400 * 1024) break;
    }
    if (rows.length === 0) break;
    const op = kv.atomic();
    const byRoom = new Map<string, Message[]>();
    for (const row of rows) {
      op.check(row).delete(row.key);
      const room = row.key[1] as string;
      byRoom.set(room, [...byRoom.get(room) ?? [], row.value]);
    }
    for (const [room, messages] of byRoom) {
      for (const part of splitChunks(messages)) op.set(["c", room, part[0]!.seq], part);
    }
    await untilUnlocked(() => op.commit()); // lost to a sibling: list again
  }
  for await (const row of kv.list({ prefix: ["nb"] })) {
    await untilUnlocked(() => kv.delete(row.key));
  }
  await untilUnlocked(() => kv.set(["meta", "layout"], LAYOUT));
}

/** A room's recent nonces ("authorId\nnonce" -> seq), complete through seq `through`. */
interface NonceWindow {
  through: number;
  seqs: Map<string, number>;
}

/** "room\nseq" back into its parts. */
function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf("\n");
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

function nonceKey(draft: TextDraft): string {
  return `${draft.author.id}\n${draft.nonce}`;
}

/** Forget nonces older than the window; the map holds them in commit order. */
function trimWindow(window: NonceWindow): void {
  const oldest = window.through - NONCE_WINDOW;
  for (const [key, seq] of window.seqs) {
    if (seq > oldest) break;
    window.seqs.delete(key);
  }
}

async function ensureEpoch(kv: Deno.Kv): Promise<string> {
  for (;;) {
    const current = await kv.get<string>(["meta", "epoch"]);
    if (current.value) return current.value;
    const epoch = crypto.randomUUID();
    const result = await untilUnlocked(() =>
      kv.atomic().check(current).set(["meta", "epoch"], epoch).commit()
    );
    if (result.ok) return epoch;
  }
}
