/**
 * One group commit of the PostgreSQL store: a batch of drafts over many rooms.
 *
 * No transaction spans two round trips (the client, postgres 3.4.9, can crash the
 * process when a connection dies inside `begin`): a batch is one read statement, then
 * one write statement that is atomic by itself. The write bumps each room's `last_seq`
 * only where the room's `version` is still the one read, holding the row lock to COMMIT;
 * every writer of a room's entries bumps `version`, so a room that moved in between (a
 * sibling process appended, retention cut) commits nothing and is retried from fresh
 * reads. seq therefore stays gapless and in call order across processes.
 */
import type { Message } from "../../protocol/messages.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { applyToTarget, makeEntry } from "./entries.ts";
import { searchTerms } from "./search_terms.ts";
import type { Sql } from "./postgres_schema.ts";
import type { AppendResult, EntryDraft, EntryGuard } from "./types.ts";

export interface Pending {
  /** Settled already (its deadline passed): left out of retries. */
  done?: boolean;
  draft: EntryDraft;
  guard: EntryGuard | undefined;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** An entry row as selected by ENTRY_COLUMNS. */
export interface EntryRow {
  room: string;
  seq: number;
  kind: Message["kind"];
  author_id: string;
  author_name: string;
  text: string;
  ts: number;
  nonce: string | null;
  target: number | null;
  edited_at: number | null;
  deleted: boolean;
  /** What the entry carries beyond the columns: see EXTRA_FIELDS. */
  extra: Partial<Pick<Message, (typeof EXTRA_FIELDS)[number]>> | null;
  /** A live text message's search terms; NULL for anything else. */
  terms: string[] | null;
  reply_to: number | null;
}

/** Fields of a message kept in the `extra` jsonb column. */
const EXTRA_FIELDS = ["reactions", "replyTo", "mentions", "file", "emoji", "remove"] as const;

export function toMessage(epoch: string, r: EntryRow): Message {
  const m: Message = {
    id: `${r.room}:${r.seq}:${epoch.slice(0, 8)}`,
    room: r.room,
    seq: r.seq,
    kind: r.kind,
    author: { id: r.author_id, name: r.author_name },
    text: r.text,
    ts: r.ts,
  };
  if (r.nonce !== null) m.nonce = r.nonce;
  if (r.target !== null) m.target = r.target;
  if (r.edited_at !== null) m.editedAt = r.edited_at;
  if (r.deleted) m.deleted = true;
  if (r.extra) Object.assign(m, r.extra);
  return m;
}

/** The row an entry is stored as (bench/search.ts loads rows with it too). */
export function toRow(m: Message): EntryRow {
  return {
    room: m.room,
    seq: m.seq,
    kind: m.kind,
    author_id: m.author.id,
    author_name: m.author.name,
    text: m.text,
    ts: m.ts,
    nonce: m.nonce ?? null,
    target: m.target ?? null,
    edited_at: m.editedAt ?? null,
    deleted: m.deleted ?? false,
    extra: extraOf(m),
    terms: m.kind === "text" && !m.deleted ? searchTerms(m.text) : null,
    reply_to: m.replyTo?.seq ?? null,
  };
}

function extraOf(m: Message): EntryRow["extra"] {
  const extra: Record<string, unknown> = {};
  for (const field of EXTRA_FIELDS) if (m[field] !== undefined) extra[field] = m[field];
  return Object.keys(extra).length ? extra : null;
}

/** The record type that jsonb_to_recordset reads entry rows with. */
export const ENTRY_RECORD = `room text, seq int8, kind text, author_id text, author_name text,
  text text, ts int8, nonce text, target int8, edited_at int8, deleted boolean, extra jsonb,
  terms text[], reply_to int8`;

const at = (room: string, seq: number) => `${room}\n${seq}`;
const nonceOf = (room: string, authorId: string, nonce: string) => `${room}\n${authorId}\n${nonce}`;

/** Attempts before a batch that keeps losing races gives up. */
const MAX_ATTEMPTS = 50;

/**
 * Commit `batch`: settle every draft, retrying rooms that another writer moved. Throws
 * (settling nothing more) when a statement fails.
 */
export async function commitBatch(
  sql: Sql,
  epoch: string,
  now: () => number,
  batch: Pending[],
  stats: BatchStats,
): Promise<void> {
  let pending = batch;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > MAX_ATTEMPTS) {
      throw new ProtocolError("unavailable", "Appends kept losing races to other writers.");
    }
    if (attempt > 1) {
      stats.retries++;
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
    const live = pending.filter((p) => !p.done);
    pending = await commitOnce(sql, epoch, now(), live);
    stats.commits++;
    stats.entries += live.length - pending.length;
  }
}

/** Counters for benchmarks: commit rounds (a read, then a write), drafts settled, retries. */
export interface BatchStats {
  commits: number;
  entries: number;
  retries: number;
}

interface RoomPlan {
  version: number;
  lastSeq: number;
  /** What each draft of the room gets if the room's write commits. */
  outcomes: [Pending, AppendResult | { error: unknown }][];
}

/** One attempt; returns the drafts of rooms that moved meanwhile, in call order. */
async function commitOnce(
  sql: Sql,
  epoch: string,
  ts: number,
  batch: Pending[],
): Promise<Pending[]> {
  const { rooms, targets, originals } = await readFor(sql, batch);
  const plans = new Map<string, RoomPlan>(
    rooms.map((r) => [r.name, { version: r.version, lastSeq: r.last_seq, outcomes: [] }]),
  );
  /** room\nseq -> the entry as it stands in this batch */
  const current = new Map<string, Message>();
  /** room\nauthor\nnonce -> room\nseq */
  const nonces = new Map<string, string>();
  for (const row of [...targets, ...originals]) {
    current.set(at(row.room, row.seq), toMessage(epoch, row));
    if (row.nonce !== null) {
      nonces.set(nonceOf(row.room, row.author_id, row.nonce), at(row.room, row.seq));
    }
  }
  const rewritten = new Set<string>();
  const fresh = new Set<string>();

  for (const p of batch) {
    const { draft } = p;
    const plan = plans.get(draft.room);
    if (!plan) {
      p.reject(new ProtocolError("room_not_found", `No room named "${draft.room}".`));
      continue;
    }
    if (draft.kind === "text") {
      const original = nonces.get(nonceOf(draft.room, draft.author.id, draft.nonce));
      const message = original === undefined ? undefined : current.get(original);
      if (message) {
        plan.outcomes.push([p, { message, duplicate: true }]);
        continue;
      }
    } else {
      const key = at(draft.room, draft.target);
      try {
        current.set(key, applyToTarget(draft, current.get(key), ts, p.guard));
      } catch (error) {
        plan.outcomes.push([p, { error }]);
        continue;
      }
      rewritten.add(key); // a target new in this batch is simply inserted as it ends up
    }
    const message = makeEntry(draft, ++plan.lastSeq, ts, epoch);
    const key = at(draft.room, message.seq);
    current.set(key, message);
    fresh.add(key);
    if (draft.kind === "text") nonces.set(nonceOf(draft.room, draft.author.id, draft.nonce), key);
    plan.outcomes.push([p, { message, duplicate: false }]);
  }

  const grown = [...plans].flatMap(([name, plan]) => {
    const n = plan.lastSeq - rooms.find((r) => r.name === name)!.last_seq;
    return n > 0 ? [{ name, version: plan.version, n }] : [];
  });
  const committed = grown.length === 0 ? new Set<string>() : await write(
    sql,
    grown,
    [...fresh].map((key) => toRow(current.get(key)!)),
    [...rewritten].filter((key) => !fresh.has(key)).map((key) => toRow(current.get(key)!)),
  ).catch((error) => {
    // A deadlock victim committed nothing: every room simply goes round again.
    if ((error as { code?: unknown })?.code === "40P01") return new Set<string>();
    throw error;
  });
  const moved = new Set<string>();
  for (const [name, plan] of plans) {
    // A room with nothing to write settles on what it read.
    const wrote = grown.some((g) => g.name === name);
    if (wrote && !committed.has(name)) {
      moved.add(name);
      continue;
    }
    for (const [p, outcome] of plan.outcomes) {
      if ("error" in outcome) p.reject(outcome.error);
      else p.resolve(outcome);
    }
  }
  return batch.filter((p) => moved.has(p.draft.room));
}

interface ReadRoom {
  name: string;
  version: number;
  last_seq: number;
}

/**
 * The batch's rooms, edit targets and resent originals, read in one statement (one
 * snapshot). Each lookup is a LATERAL probe of an index: a plain join against
 * jsonb_to_recordset (guessed at 100 rows) let the planner scan the whole entries table.
 */
async function readFor(
  sql: Sql,
  batch: Pending[],
): Promise<{ rooms: ReadRoom[]; targets: EntryRow[]; originals: EntryRow[] }> {
  const rooms = [...new Set(batch.map((p) => p.draft.room))];
  const targets: { room: string; seq: number }[] = [];
  const sends: { room: string; author_id: string; nonce: string }[] = [];
  const wanted = new Set<string>();
  for (const { draft } of batch) {
    if (draft.kind === "text") {
      sends.push({ room: draft.room, author_id: draft.author.id, nonce: draft.nonce });
    } else if (!wanted.has(at(draft.room, draft.target))) {
      // Once each: many reactions to one message would otherwise read it back many times.
      wanted.add(at(draft.room, draft.target));
      targets.push({ room: draft.room, seq: draft.target });
    }
  }
  const [row] = await sql<{ rooms: ReadRoom[]; targets: EntryRow[]; originals: EntryRow[] }[]>`
    SELECT
      coalesce((SELECT json_agg(json_build_object(
          'name', name, 'version', version, 'last_seq', last_seq))
        FROM rooms WHERE name = ANY(${rooms}::text[]) AND deleting_until IS NULL), '[]') AS rooms,
      coalesce((SELECT json_agg(e)
        FROM jsonb_to_recordset(${JSON.stringify(targets)}::text::jsonb) AS w(room text, seq int8)
        CROSS JOIN LATERAL (SELECT * FROM entries e
          WHERE e.room = w.room AND e.seq = w.seq LIMIT 1) e), '[]') AS targets,
      coalesce((SELECT json_agg(e)
        FROM jsonb_to_recordset(${JSON.stringify(sends)}::text::jsonb)
          AS w(room text, author_id text, nonce text)
        CROSS JOIN LATERAL (SELECT * FROM entries e
          WHERE e.room = w.room AND e.author_id = w.author_id AND e.nonce = w.nonce
          LIMIT 1) e), '[]') AS originals`;
  return row!;
}

/**
 * Edits, deletes and reactions rewrite their targets (text, reactions, terms); left out of a batch with none, so a batch of
 * sends never plans a join against the whole entries table.
 */
const REWRITE = `,
     rewritten AS (
       UPDATE entries e SET text = x.text, edited_at = x.edited_at, deleted = x.deleted,
         extra = x.extra, terms = x.terms
       FROM jsonb_to_recordset($3::text::jsonb) AS x(${ENTRY_RECORD})
       WHERE e.room = x.room AND e.seq = x.seq AND x.room IN (SELECT name FROM bumped)
     )`;

/**
 * The write, one statement: lock the rooms in name order (so two processes never
 * deadlock), bump those still at the version read, and write entries for those only.
 * Returns the rooms that committed.
 */
async function write(
  sql: Sql,
  grown: { name: string; version: number; n: number }[],
  inserts: EntryRow[],
  updates: EntryRow[],
): Promise<Set<string>> {
  const rows = await sql.unsafe<{ name: string }[]>(
    `WITH grown AS (
       SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS g(name text, version int8, n int8)
     ),
     locked AS (
       SELECT name FROM rooms WHERE name IN (SELECT name FROM grown) ORDER BY name
       FOR NO KEY UPDATE
     ),
     bumped AS (
       UPDATE rooms r SET last_seq = r.last_seq + g.n, version = r.version + 1
       FROM grown g
       WHERE r.name = g.name AND r.version = g.version AND r.deleting_until IS NULL
         AND r.name IN (SELECT name FROM locked)
       RETURNING r.name
     ),
     inserted AS (
       INSERT INTO entries (room, seq, kind, author_id, author_name, text, ts, nonce, target,
         edited_at, deleted, extra, terms, reply_to)
       SELECT room, seq, kind, author_id, author_name, text, ts, nonce, target, edited_at,
         deleted, extra, terms, reply_to
       FROM jsonb_to_recordset($2::text::jsonb) AS x(${ENTRY_RECORD})
       WHERE x.room IN (SELECT name FROM bumped)
     )${updates.length === 0 ? "" : REWRITE}
     SELECT name FROM bumped`,
    [
      JSON.stringify(grown),
      JSON.stringify(inserts),
      ...(updates.length === 0 ? [] : [JSON.stringify(updates)]),
    ],
  );
  return new Set(rows.map((r) => r.name));
}
