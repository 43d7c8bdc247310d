/**
 * PostgreSQL Store: for several server processes sharing one database.
 *
 * Appends are group-committed: everything queued while a commit is in flight goes into
 * the next transaction, across rooms (see postgres_batch.ts for how seq stays gapless).
 * When PostgreSQL is down or restarting, calls reject with ProtocolError "unavailable"
 * within `timeoutMs`; the client reconnects by itself once the server is back.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import type { Member, Retention } from "../../protocol/messages.ts";
import { createLogger, type Logger } from "../log.ts";
import { backfillTerms } from "./postgres_backfill.ts";
import { type BatchStats, commitBatch, type Pending } from "./postgres_batch.ts";
import { postgresRepositories } from "./postgres_repositories.ts";
import {
  clean,
  connect,
  type ConnectOptions,
  migrate,
  outage,
  readEpoch,
  type Sql,
} from "./postgres_schema.ts";
import { countMentions, searchEntries } from "./postgres_search.ts";
import { countUnread, pruneOnce, readHistory } from "./postgres_stream.ts";
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

/** Entries per transaction: beyond this a commit only grows longer, not cheaper per entry. */
const BATCH_MAX_ENTRIES = 2000;
/** How long a deleted room's name stays held if its cleanup never finishes. */
const DELETING_MS = 10 * 60 * 1000;

export interface PostgresStoreOptions extends ConnectOptions {
  now?: () => number;
  /** Longest a call may take before it rejects with "unavailable" (default 10 s). */
  timeoutMs?: number;
  /** For the search backfill's progress (default: info to stderr). */
  log?: Pick<Logger, "info" | "warn">;
}

interface RoomRow {
  name: string;
  kind: RoomRecord["kind"];
  title: string;
  topic: string;
  created_at: number;
  created_by: string;
  receipts: boolean;
  retention: Retention | null;
  disabled: boolean;
  last_seq: number;
}

export class PostgresStore implements Store {
  readonly accounts: Repositories["accounts"];
  readonly sessions: Repositories["sessions"];
  readonly invites: Repositories["invites"];
  readonly tickets: Repositories["tickets"];
  readonly loginFailures: Repositories["loginFailures"];
  readonly access: Repositories["access"];
  readonly modlog: Repositories["modlog"];
  readonly webhooks: Repositories["webhooks"];
  readonly apiKeys: Repositories["apiKeys"];
  readonly stats: BatchStats = { commits: 0, entries: 0, retries: 0 };
  readonly #sql: Sql;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  #queue: (Pending & { done: boolean })[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #stopBackfill = new AbortController();
  /**
   * Entries stored before search get their `terms` in the background after open
   * (postgres_backfill.ts); resolves with how many this handle filled in.
   */
  readonly backfill: Promise<number>;

  private constructor(sql: Sql, readonly epoch: string, options: PostgresStoreOptions) {
    this.#sql = sql;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
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
    } = postgresRepositories(sql, (fn) => this.#guarded(fn)));
    this.backfill = backfillTerms(sql, {
      log: options.log ?? createLogger("info"),
      signal: this.#stopBackfill.signal,
    }).catch(() => 0);
  }

  /** Connect, bring the schema up to date, and read the epoch. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const sql = connect(url, options);
    try {
      await migrate(sql);
      return new PostgresStore(sql, await readEpoch(sql), options);
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw outage(error);
    }
  }

  // ---- rooms --------------------------------------------------------------------------

  createRoom(room: NewRoom): Promise<RoomRecord | null> {
    return this.#guarded(async () => {
      // A row whose deletion stalled past its hold is taken over, with whatever of the
      // old room its deleter had not cleared yet.
      const [row] = await this.#sql<RoomRow[]>`
        WITH made AS (
          INSERT INTO rooms AS r (name, kind, title, topic, created_at, created_by, receipts,
            retention)
          VALUES (${room.name}, ${room.kind ?? "public"}, ${room.title ?? ""}, ${room.topic},
            ${this.#now()}::int8, ${room.createdBy}, ${room.receipts ?? false}::boolean,
            ${jsonOrNull(room.retention)}::text::jsonb)
          ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, title = excluded.title,
            topic = excluded.topic, created_at = excluded.created_at,
            created_by = excluded.created_by, receipts = excluded.receipts,
            retention = excluded.retention, disabled = false, last_seq = 0, first_seq = 1,
            version = r.version + 1, deleting_until = NULL
            WHERE r.deleting_until < ${Date.now()}::int8
          RETURNING *
        ),
        e AS (DELETE FROM entries WHERE room IN (SELECT name FROM made)),
        m AS (DELETE FROM members WHERE room IN (SELECT name FROM made)),
        k AS (DELETE FROM read_markers WHERE room IN (SELECT name FROM made))
        SELECT * FROM made`;
      return row ? toRoom(row) : null;
    });
  }

  getRoom(name: string): Promise<RoomRecord | null> {
    return this.#guarded(async () => {
      const [row] = await this.#sql<RoomRow[]>`
        SELECT * FROM rooms WHERE name = ${name} AND deleting_until IS NULL`;
      return row ? toRoom(row) : null;
    });
  }

  listRooms(): Promise<RoomRecord[]> {
    return this.#guarded(async () => {
      const rows = await this.#sql<RoomRow[]>`
        SELECT * FROM rooms WHERE deleting_until IS NULL ORDER BY name`;
      return rows.map(toRoom);
    });
  }

  updateRoom(name: string, patch: RoomPatch): Promise<RoomRecord | null> {
    return this.#guarded(async () => {
      const [row] = await this.#sql<RoomRow[]>`
        UPDATE rooms SET
          title = coalesce(${patch.title ?? null}::text, title),
          topic = coalesce(${patch.topic ?? null}::text, topic),
          receipts = coalesce(${patch.receipts ?? null}::boolean, receipts),
          disabled = coalesce(${patch.disabled ?? null}::boolean, disabled),
          retention = CASE WHEN ${patch.retention === null}::boolean THEN NULL
            ELSE coalesce(${jsonOrNull(patch.retention)}::text::jsonb, retention) END
        WHERE name = ${name} AND deleting_until IS NULL
        RETURNING *`;
      return row ? toRoom(row) : null;
    });
  }

  // ---- the stream -----------------------------------------------------------------------

  append(input: EntryDraft, guard?: EntryGuard): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new ProtocolError("unavailable", "Store closed."));
    const draft = storable(input);
    return new Promise((resolve, reject) => {
      // Settles once: by its batch, or by the deadline (then, if still queued, never sent).
      const timer = setTimeout(() => {
        pending.done = true;
        reject(new ProtocolError("unavailable", "PostgreSQL did not commit in time."));
      }, this.#timeoutMs);
      const settle = <A>(fn: (a: A) => void) => (a: A) => {
        clearTimeout(timer);
        if (pending.done) return;
        pending.done = true;
        fn(a);
      };
      const pending = {
        draft,
        guard,
        done: false,
        resolve: settle(resolve),
        reject: settle((error: unknown) => reject(outage(error))),
      };
      this.#queue.push(pending);
      // Everything appended in this same tick joins the batch; later ones wait for it.
      this.#flushing ??= Promise.resolve().then(() => this.#flushLoop());
    });
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const live = this.#queue.filter((p) => !p.done);
        const batch = live.slice(0, BATCH_MAX_ENTRIES);
        this.#queue = live.slice(BATCH_MAX_ENTRIES);
        if (batch.length === 0) continue;
        try {
          await commitBatch(this.#sql, this.epoch, this.#now, batch, this.stats);
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#flushing = null;
    }
  }

  history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.#guarded(() => readHistory(this.#sql, this.epoch, room, query));
  }

  firstSeq(room: string): Promise<number> {
    return this.#guarded(async () => {
      const [row] = await this.#sql<{ first_seq: number }[]>`
        SELECT first_seq FROM rooms WHERE name = ${room} AND deleting_until IS NULL`;
      return row?.first_seq ?? 1;
    });
  }

  // ---- users, membership, read markers ----------------------------------------------------

  putUser(user: Member): Promise<void> {
    return this.#guarded(async () => {
      await this.#sql`INSERT INTO users (id, name) VALUES (${user.id}, ${user.name})
        ON CONFLICT (id) DO UPDATE SET name = excluded.name`;
    });
  }

  getUser(id: string): Promise<Member | null> {
    return this.#guarded(async () => {
      const [row] = await this.#sql<Member[]>`SELECT id, name FROM users WHERE id = ${id}`;
      return row ? { id: row.id, name: row.name } : null;
    });
  }

  addMember(room: string, userId: string): Promise<void> {
    return this.#guarded(async () => {
      // The share lock orders this against a deletion's claim: before it, the deletion
      // clears the row; after it, the room is seen as gone.
      await this.#sql`INSERT INTO members (room, user_id)
        SELECT name, ${userId} FROM rooms WHERE name = ${room} AND deleting_until IS NULL
        FOR KEY SHARE
        ON CONFLICT DO NOTHING`;
    });
  }

  removeMember(room: string, userId: string): Promise<void> {
    return this.#guarded(async () => {
      await this.#sql`DELETE FROM members WHERE room = ${room} AND user_id = ${userId}`;
    });
  }

  roomsOf(userId: string): Promise<string[]> {
    return this.#guarded(async () => {
      const rows = await this.#sql<{ room: string }[]>`
        SELECT room FROM members WHERE user_id = ${userId} ORDER BY room`;
      return rows.map((r) => r.room);
    });
  }

  membersOf(room: string): Promise<string[]> {
    return this.#guarded(async () => {
      const rows = await this.#sql<{ user_id: string }[]>`
        SELECT user_id FROM members WHERE room = ${room} ORDER BY user_id`;
      return rows.map((r) => r.user_id);
    });
  }

  isMember(room: string, userId: string): Promise<boolean> {
    return this.#guarded(async () => {
      const rows = await this.#sql`
        SELECT 1 FROM members WHERE room = ${room} AND user_id = ${userId}`;
      return rows.length > 0;
    });
  }

  async deleteRoom(name: string, clearAlso?: () => Promise<void>): Promise<boolean> {
    // Appends called before this commit first, so none lands in a room made anew later.
    while (this.#flushing) await this.#flushing;
    const until = Date.now() + DELETING_MS;
    // The claim commits on its own first: from then on no append, member or marker gets
    // in (see addMember), so the clearing statements after it see everything there is.
    // The row stays, marked, and holds the name until the caller's cleanup has run.
    const claimed = await this.#guarded(() =>
      this.#sql`
        UPDATE rooms SET deleting_until = ${until}::int8, version = version + 1
        WHERE name IN (
          SELECT name FROM rooms WHERE name = ${name} AND deleting_until IS NULL FOR UPDATE
        )
        RETURNING 1`
    );
    if (claimed.length === 0) return false;
    await this.#clearRoom(name, until, false);
    try {
      await clearAlso?.();
    } finally {
      await this.#clearRoom(name, until, true); // again: the first may have met an outage
    }
    return true;
  }

  /** Delete the entries, members and markers of a room this deletion holds; then its row. */
  #clearRoom(name: string, until: number, row: boolean): Promise<unknown> {
    return this.#guarded(() =>
      this.#sql`
        WITH held AS (
          SELECT name FROM rooms WHERE name = ${name} AND deleting_until = ${until}::int8
        ),
        e AS (DELETE FROM entries WHERE room IN (SELECT name FROM held)),
        m AS (DELETE FROM members WHERE room IN (SELECT name FROM held)),
        k AS (DELETE FROM read_markers WHERE room IN (SELECT name FROM held))
        DELETE FROM rooms WHERE ${row}::boolean AND name IN (SELECT name FROM held)`
    );
  }

  setReadMarker(
    room: string,
    userId: string,
    seq: number,
  ): Promise<{ seq: number; moved: boolean }> {
    return this.#guarded(async () => {
      const [moved] = await this.#sql<{ seq: number }[]>`
        INSERT INTO read_markers AS m (room, user_id, seq)
        SELECT name, ${userId}, least(${seq}::int8, last_seq) FROM rooms
        WHERE name = ${room} AND deleting_until IS NULL AND least(${seq}::int8, last_seq) > 0
        FOR KEY SHARE
        ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq WHERE m.seq < excluded.seq
        RETURNING m.seq`;
      if (moved) return { seq: moved.seq, moved: true };
      const [row] = await this.#sql<{ seq: number | null }[]>`
        SELECT (SELECT seq FROM read_markers WHERE room = ${room} AND user_id = ${userId}) AS seq
        FROM rooms WHERE name = ${room} AND deleting_until IS NULL`;
      if (!row) throw new ProtocolError("room_not_found", `No room named "${room}".`);
      return { seq: row.seq ?? 0, moved: false };
    });
  }

  readMarker(room: string, userId: string): Promise<number> {
    return this.#guarded(async () => {
      const [row] = await this.#sql<{ seq: number }[]>`
        SELECT seq FROM read_markers WHERE room = ${room} AND user_id = ${userId}`;
      return row?.seq ?? 0;
    });
  }

  readMarkers(room: string): Promise<ReadMarker[]> {
    return this.#guarded(async () => {
      const rows = await this.#sql<{ user_id: string; seq: number }[]>`
        SELECT user_id, seq FROM read_markers WHERE room = ${room} ORDER BY user_id`;
      return rows.map((r) => ({ userId: r.user_id, seq: r.seq }));
    });
  }

  unreadCount(room: string, userId: string, cap: number): Promise<number> {
    return this.#guarded(() => countUnread(this.#sql, room, userId, cap));
  }

  unreadMentions(room: string, userId: string, names: string[], cap: number): Promise<number> {
    return this.#guarded(() => countMentions(this.#sql, room, userId, names, cap));
  }

  search(query: SearchQuery): Promise<SearchPage> {
    return this.#guarded(() => searchEntries(this.#sql, this.epoch, query));
  }

  // ---- retention ------------------------------------------------------------------------

  async prune(room: string, retention: Retention, now: number): Promise<PruneResult> {
    for (let attempt = 1;; attempt++) {
      const done = await this.#guarded(() => pruneOnce(this.#sql, room, retention, now));
      if (!done.found || !done.needed) return { removed: 0 };
      if (done.bumped) return { removed: done.removed };
      if (attempt >= 50) throw new ProtocolError("unavailable", "Retention kept losing races.");
      await new Promise((r) => setTimeout(r, Math.random() * 20));
    }
  }

  /** Commit what is queued, let calls in flight finish, then close the connections. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopBackfill.abort();
    while (this.#flushing) await this.#flushing;
    await this.backfill;
    await Promise.allSettled([...this.#inFlight]);
    // Nothing is in flight now; after an outage the client may keep a dead connection
    // that a graceful end would wait on for its whole timeout, so end at once.
    await this.#sql.end({ timeout: 0 });
  }

  /** Run `fn`, rejecting with "unavailable" on an outage or once `timeoutMs` has passed. */
  #guarded<T>(fn: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ProtocolError("unavailable", "PostgreSQL did not answer in time.")),
        this.#timeoutMs,
      );
    });
    const run = Promise.race([fn(), deadline]).catch((error) => {
      throw outage(error);
    }).finally(() => {
      clearTimeout(timer);
      this.#inFlight.delete(run);
    });
    this.#inFlight.add(run);
    return run;
  }
}

function toRoom(row: RoomRow): RoomRecord {
  return {
    name: row.name,
    kind: row.kind,
    title: row.title,
    topic: row.topic,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastSeq: row.last_seq,
    receipts: row.receipts,
    ...(row.retention ? { retention: row.retention } : {}),
    ...(row.disabled ? { disabled: true } : {}),
  };
}

/**
 * The draft with strings PostgreSQL can hold: no NUL, no lone surrogate (jsonb refuses
 * both, which would fail a whole batch). Cleaned before the entry is made, so what is
 * acknowledged is what is stored.
 */
function storable(draft: EntryDraft): EntryDraft {
  const author = { id: clean(draft.author.id), name: clean(draft.author.name) };
  if (draft.kind === "delete" || draft.kind === "react") return { ...draft, author };
  if (draft.kind === "edit") return { ...draft, author, text: clean(draft.text) };
  const text = { ...draft, author, text: clean(draft.text), nonce: clean(draft.nonce) };
  if (draft.replyTo) {
    const { seq, author: to, text: excerpt } = draft.replyTo;
    text.replyTo = {
      seq,
      author: { id: clean(to.id), name: clean(to.name) },
      text: clean(excerpt),
    };
  }
  if (draft.mentions) text.mentions = draft.mentions.map(clean);
  if (draft.file) text.file = { ...draft.file, name: clean(draft.file.name) };
  return text;
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}
