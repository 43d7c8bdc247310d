/**
 * Shared app state. Islands hydrate as separate Preact roots but live in one
 * bundle, so they all read these signals and re-render when they change.
 */
import { batch, type Signal, signal } from "@preact/signals";
import { LIMITS } from "../../protocol/limits.ts";
import type {
  CommandInfo,
  Features,
  FileRef,
  Member,
  Message,
  ModerationEvent,
  Receipt,
  RoomInfo,
} from "../../protocol/messages.ts";
import type { ServerRole, Standing } from "../../protocol/permissions.ts";
import { standingIn } from "./access.ts";
import type { ServerAccess } from "./api.ts";
import { ALL_FEATURES } from "./config.ts";
import type { ConnectionStatus } from "./socket.ts";
import { applyEntries, type SeqTracker } from "./stream.ts";

/** A message shown before the server committed it; `error` is set when sending failed. */
export interface PendingMessage {
  nonce: string;
  text: string;
  ts: number;
  error: string | null;
  /** The seq of the message it replies to. */
  replyTo?: number;
  /** The uploaded file it carries. */
  file?: FileRef;
}

export type JoinState = "no" | "joining" | "yes";

/** A line only this tab shows, e.g. what a slash command answered; the user dismisses it. */
export interface LocalNote {
  id: number;
  text: string;
  ts: number;
}

export interface RoomView {
  /** Committed text messages with their edits applied, sorted by seq, each seq once. */
  messages: Signal<Message[]>;
  pending: Signal<PendingMessage[]>;
  hasMore: Signal<boolean>;
  loadingEarlier: Signal<boolean>;
  /** Online members, sorted by name. */
  presence: Signal<Member[]>;
  /** Members typing right now (never the current user). */
  typing: Signal<Member[]>;
  /** Text messages from others after the read marker, as far as this client knows. */
  unread: Signal<number>;
  /** Of those, the ones that mention this user or @room (RoomInfo.mentions, then live). */
  mentions: Signal<number>;
  /** This user's read marker: everything up to it has been read, on some device. */
  readSeq: Signal<number>;
  /** Moderation seen live in this room, shown as system lines among the messages. */
  events: Signal<ModerationEvent[]>;
  /** Command feedback shown among the messages, only here. */
  notes: Signal<LocalNote[]>;
  /** Where other members have read up to, by user id (rooms with receipts). */
  receipts: Signal<ReadonlyMap<string, Receipt>>;
  joined: Signal<JoinState>;
  error: Signal<string | null>;
  /** The highest seq seen without a hole (`stream.contiguous`), for the read marker. */
  seenSeq: Signal<number>;
  /** The timeline jumped to the latest page here, skipping what came before (a seq). */
  gapAt: Signal<number | null>;
  /** Null until the first join: nothing to recover from. */
  stream: SeqTracker | null;
  /** Seq of the oldest entry loaded, what "load earlier" pages back from. */
  oldest: number | null;
  /** Live entries that arrived while a join was on its way; applied after its reply. */
  early: Message[];
  /** The history this view held was lost (new epoch); the next join shows the jump. */
  lost: boolean;
}

export const identity = signal<Member | null>(null);
/** The server role from `hello` (or the sign-in answer until then). */
export const serverRole = signal<ServerRole | null>(null);
/** How the server lets people in, from `GET /api/me`; null until it answered. */
export const serverAccess = signal<ServerAccess | null>(null);
/**
 * The sign-in page: "checking" until `GET /api/me` answers (it covers the app, so a
 * signed-out visitor never sees the shell), "open" when signed out, "closed" in the app.
 */
export const gate = signal<"checking" | "open" | "closed">("checking");
/** Why the sign-in page is showing, e.g. "You were signed out". */
export const gateMessage = signal<string | null>(null);
/** A notice's one action, e.g. "Undo". */
export interface NoticeAction {
  label: string;
  run: () => void;
}
export interface Notice {
  id: number;
  text: string;
  action?: NoticeAction;
}
/** Short-lived notices ("You were kicked from #x"), oldest first. */
export const notices = signal<Notice[]>([]);
/** Messages deleted but not yet sent, while an Undo is offered; keys from `messageKey`. */
export const deleting = signal<ReadonlySet<string>>(new Set());
/** The current room's settings panel is open. */
export const settingsOpen = signal(false);
/** Someone whose name was clicked: the card offering to message them. */
export const userCard = signal<Member | null>(null);
export const connection = signal<ConnectionStatus>({ state: "connecting", retrying: false });
/** Null until the first `room.list`; islands fall back to the server-rendered list. */
export const rooms = signal<RoomInfo[] | null>(null);
export const currentRoom = signal<string | null>(null);
/** Which side panel is open on narrow screens. */
export const panel = signal<"rooms" | "members" | null>(null);
/** The tab is visible (document.visibilityState). */
export const pageVisible = signal(true);
/** The current room's timeline is scrolled to its end. */
export const atBottom = signal(true);
/** The message being edited in place. */
export const editing = signal<{ room: string; seq: number } | null>(null);
/** The message the composer is replying to. */
export const replyingTo = signal<Message | null>(null);
/** The message whose replies the thread panel shows. */
export const threadOf = signal<{ room: string; seq: number } | null>(null);
/**
 * A message to show in context (from search, a reply's quote, a permalink): the timeline
 * loads the history around it, scrolls to it and highlights it, then clears this.
 */
export const jumpTarget = signal<{ room: string; seq: number } | null>(null);
/** Which dialog is open over the page. */
export const dialog = signal<"new-room" | "directory" | "new-dm" | "search" | null>(null);
/** What the server has switched on: the page's meta tag, then `hello`. */
export const features = signal<Features>({ ...ALL_FEATURES });
/** Slash commands from `hello`, for completion; empty when the server offers none. */
export const commands = signal<CommandInfo[]>([]);

const views = new Map<string, RoomView>();
const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

export function roomView(room: string): RoomView {
  let view = views.get(room);
  if (!view) {
    view = {
      messages: signal([]),
      pending: signal([]),
      hasMore: signal(false),
      loadingEarlier: signal(false),
      presence: signal([]),
      typing: signal([]),
      unread: signal(0),
      mentions: signal(0),
      readSeq: signal(0),
      events: signal([]),
      notes: signal([]),
      receipts: signal(new Map()),
      joined: signal("no"),
      error: signal(null),
      seenSeq: signal(0),
      gapAt: signal(null),
      stream: null,
      oldest: null,
      early: [],
      lost: false,
    };
    views.set(room, view);
  }
  return view;
}

/** The room's info as last listed or pushed. */
export function roomInfo(name: string | null): RoomInfo | undefined {
  return name === null ? undefined : rooms.value?.find((r) => r.name === name);
}

/** Where the signed-in user stands in `info`, for the permission checks; null before hello. */
export function standingOf(info: RoomInfo | undefined): Standing | null {
  if (!info) return null;
  const joined = peekRoomView(info.name)?.joined.value === "yes";
  return standingIn(info, { user: identity.value, role: serverRole.value }, joined);
}

/** The view of `room` if it exists; for readers that must not create state (e.g. SSR). */
export function peekRoomView(room: string): RoomView | undefined {
  return views.get(room);
}

/** Fields only a reply to the caller carries; a broadcast `room` push never has them. */
const CALLER_FIELDS = ["member", "unread", "readSeq", "role", "mutedUntil"] as const;

/**
 * Add or update a room. With `merge` (pushes, which are one copy for everyone), what the
 * caller-only fields said before is kept where the new copy is silent.
 */
export function upsertRoom(info: RoomInfo, { merge = false } = {}): void {
  const list = rooms.value ?? [];
  const held = list.find((r) => r.name === info.name);
  let next = info;
  if (merge && held) {
    next = { ...info };
    for (const key of CALLER_FIELDS) {
      if (next[key] === undefined && held[key] !== undefined) {
        (next as Record<string, unknown>)[key] = held[key];
      }
    }
  }
  const rest = list.filter((r) => r.name !== info.name);
  rooms.value = [...rest, next].sort((a, b) => a.name.localeCompare(b.name));
}

/** Change some fields of a held room (e.g. our role or mute, from a moderation push). */
export function patchRoom(name: string, patch: Partial<RoomInfo>): void {
  const list = rooms.value;
  if (!list?.some((r) => r.name === name)) return;
  rooms.value = list.map((r) => {
    if (r.name !== name) return r;
    const next: RoomInfo = { ...r, ...patch };
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) delete (next as Record<string, unknown>)[key];
    }
    return next;
  });
}

/** The user is out of `room` (kicked, banned, deleted): forget it and what it held. */
export function removeRoom(name: string): void {
  batch(() => {
    if (rooms.value) rooms.value = rooms.value.filter((r) => r.name !== name);
    const view = views.get(name);
    if (view) {
      for (const user of view.typing.value) setTyping(name, user, false);
      views.delete(name);
    }
  });
}

export function addModeration(event: ModerationEvent): void {
  const view = roomView(event.room);
  if (view.events.value.some((e) => e.id === event.id)) return;
  view.events.value = [...view.events.value, event].sort((a, b) => a.ts - b.ts);
}

let noticeId = 0;

/** Show `text` for a while; the Notices island lets the user dismiss it sooner. */
export function notify(text: string, ms = 8000, action?: NoticeAction): number {
  const id = ++noticeId;
  notices.value = [...notices.value, action ? { id, text, action } : { id, text }];
  setTimeout(() => dismissNotice(id), ms);
  return id;
}

/** The key of a message of a room, as `deleting` holds it. */
export function messageKey(room: string, seq: number): string {
  return `${room}#${seq}`;
}

/** Mark a message as deleted-but-undoable, or not any more. */
export function setDeleting(room: string, seq: number, on: boolean): void {
  const key = messageKey(room, seq);
  if (deleting.value.has(key) === on) return;
  const next = new Set(deleting.value);
  if (on) next.add(key);
  else next.delete(key);
  deleting.value = next;
}

export function dismissNotice(id: number): void {
  notices.value = notices.value.filter((n) => n.id !== id);
}

let noteId = 0;

/** Show `text` in `room`'s timeline for this user only, until dismissed. */
export function addNote(room: string, text: string): void {
  const view = roomView(room);
  view.notes.value = [...view.notes.value, { id: ++noteId, text, ts: Date.now() }];
}

export function dismissNote(room: string, id: number): void {
  const view = peekRoomView(room);
  if (view) view.notes.value = view.notes.value.filter((n) => n.id !== id);
}

/** Signed out: nothing of the last user may show to the next one. */
export function resetState(): void {
  batch(() => {
    for (const [room, view] of views) {
      for (const user of view.typing.value) setTyping(room, user, false);
    }
    views.clear();
    identity.value = null;
    serverRole.value = null;
    rooms.value = [];
    currentRoom.value = null;
    panel.value = null;
    editing.value = null;
    deleting.value = new Set();
    settingsOpen.value = false;
    userCard.value = null;
    commands.value = [];
  });
}

/** Apply committed stream entries and drop the pending copies they replace (matched on nonce). */
export function commitEntries(room: string, entries: readonly Message[]): void {
  const view = roomView(room);
  const nonces = new Set(entries.flatMap((m) => m.nonce ?? []));
  batch(() => {
    view.messages.value = applyEntries(view.messages.value, entries);
    if (nonces.size && view.pending.value.some((p) => nonces.has(p.nonce))) {
      view.pending.value = view.pending.value.filter((p) => !nonces.has(p.nonce));
    }
  });
}

/** The room is on screen with its end in view: new messages there are read as they come. */
export function isWatching(room: string): boolean {
  return currentRoom.value === room && pageVisible.value && atBottom.value;
}

/** Text messages from others held after `seq`; null when older pages may hide some of them. */
export function unreadAfter(room: string, seq: number): number | null {
  const view = roomView(room);
  if (view.oldest === null || view.oldest > seq + 1) return null;
  const me = identity.value?.id;
  return view.messages.value.filter((m) => m.seq > seq && !m.deleted && m.author.id !== me).length;
}

export function addPending(room: string, pending: PendingMessage): void {
  const view = roomView(room);
  view.pending.value = [...view.pending.value, pending];
}

export function updatePending(room: string, nonce: string, error: string | null): void {
  const view = roomView(room);
  view.pending.value = view.pending.value.map((p) => p.nonce === nonce ? { ...p, error } : p);
}

export function removePending(room: string, nonce: string): void {
  const view = roomView(room);
  view.pending.value = view.pending.value.filter((p) => p.nonce !== nonce);
}

export function setPresence(room: string, members: readonly Member[]): void {
  const byId = new Map(members.map((m) => [m.id, m]));
  roomView(room).presence.value = [...byId.values()].sort(byName);
}

export function applyPresence(room: string, joins: readonly Member[], leaves: readonly Member[]) {
  const byId = new Map(roomView(room).presence.value.map((m) => [m.id, m]));
  for (const m of leaves) byId.delete(m.id);
  for (const m of joins) byId.set(m.id, m);
  setPresence(room, [...byId.values()]);
  for (const m of leaves) setTyping(room, m, false);
}

/** Mark `user` as typing (or not); an entry lapses after LIMITS.typingTtlMs without refresh. */
export function setTyping(room: string, user: Member, active: boolean): void {
  const key = `${room}\n${user.id}`;
  clearTimeout(typingTimers.get(key));
  typingTimers.delete(key);
  const view = roomView(room);
  const others = view.typing.value.filter((m) => m.id !== user.id);
  if (active) {
    typingTimers.set(key, setTimeout(() => setTyping(room, user, false), LIMITS.typingTtlMs));
    view.typing.value = [...others, user];
  } else if (others.length !== view.typing.value.length) {
    view.typing.value = others;
  }
}

/** After the connection dropped: the server forgot our joins, presence and typing are stale. */
export function markDisconnected(): void {
  batch(() => {
    for (const [room, view] of views) {
      view.joined.value = "no";
      view.presence.value = [];
      for (const user of view.typing.value) setTyping(room, user, false);
    }
  });
}

/** The server's history was reset (new epoch): what we hold no longer matches its seqs. */
export function forgetHistory(): void {
  batch(() => {
    for (const view of views.values()) {
      view.lost ||= view.stream !== null;
      view.stream = null;
      view.oldest = null;
      view.messages.value = [];
      view.hasMore.value = false;
      view.gapAt.value = null;
      view.seenSeq.value = 0;
      view.readSeq.value = 0;
      view.receipts.value = new Map();
    }
  });
}

function byName(a: Member, b: Member): number {
  return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}
