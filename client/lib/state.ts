/**
 * Shared app state. Islands hydrate as separate Preact roots but live in one
 * bundle, so they all read these signals and re-render when they change.
 */
import { batch, type Signal, signal } from "@preact/signals";
import { LIMITS } from "../../protocol/limits.ts";
import type { Member, Message, RoomInfo } from "../../protocol/messages.ts";
import type { ConnectionStatus } from "./socket.ts";

/** A message shown before the server committed it; `error` is set when sending failed. */
export interface PendingMessage {
  nonce: string;
  text: string;
  ts: number;
  error: string | null;
}

export type JoinState = "no" | "joining" | "yes";

export interface RoomView {
  /** Committed messages, sorted by seq, each seq once. */
  messages: Signal<Message[]>;
  pending: Signal<PendingMessage[]>;
  hasMore: Signal<boolean>;
  loadingEarlier: Signal<boolean>;
  /** Online members, sorted by name. */
  presence: Signal<Member[]>;
  /** Members typing right now (never the current user). */
  typing: Signal<Member[]>;
  unread: Signal<number>;
  joined: Signal<JoinState>;
  error: Signal<string | null>;
}

export const identity = signal<Member | null>(null);
/** Identities this browser holds (from `GET /api/me`), offered by the name gate. */
export const knownIdentities = signal<Member[]>([]);
export const gateOpen = signal(false);
export const gateMessage = signal<string | null>(null);
export const connection = signal<ConnectionStatus>({ state: "connecting" });
/** Null until the first `room.list`; islands fall back to the server-rendered list. */
export const rooms = signal<RoomInfo[] | null>(null);
export const currentRoom = signal<string | null>(null);
/** Which side panel is open on narrow screens. */
export const panel = signal<"rooms" | "members" | null>(null);

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
      joined: signal("no"),
      error: signal(null),
    };
    views.set(room, view);
  }
  return view;
}

/** The view of `room` if it exists; for readers that must not create state (e.g. SSR). */
export function peekRoomView(room: string): RoomView | undefined {
  return views.get(room);
}

export function upsertRoom(info: RoomInfo): void {
  const list = (rooms.value ?? []).filter((r) => r.name !== info.name);
  list.push(info);
  rooms.value = list.sort((a, b) => a.name.localeCompare(b.name));
}

/** Merge `incoming` into a seq-sorted list, keeping the first copy of each seq. */
export function mergeBySeq(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[];
  const last = existing.at(-1)?.seq ?? -1;
  if (incoming.length === 1 && incoming[0]!.seq > last) return [...existing, incoming[0]!];
  const bySeq = new Map<number, Message>();
  for (const m of incoming) bySeq.set(m.seq, m);
  for (const m of existing) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Add committed messages and drop the pending copies they replace (matched on nonce). */
export function commitMessages(room: string, messages: readonly Message[]): void {
  const view = roomView(room);
  const nonces = new Set(messages.flatMap((m) => m.nonce ?? []));
  batch(() => {
    view.messages.value = mergeBySeq(view.messages.value, messages);
    if (nonces.size && view.pending.value.some((p) => nonces.has(p.nonce))) {
      view.pending.value = view.pending.value.filter((p) => !nonces.has(p.nonce));
    }
  });
}

/** A live message push: commit it, end its author's typing, count it as unread elsewhere. */
export function receiveMessage(message: Message): void {
  const view = roomView(message.room);
  const isNew = !view.messages.value.some((m) => m.seq === message.seq);
  batch(() => {
    commitMessages(message.room, [message]);
    setTyping(message.room, message.author, false);
    if (isNew && message.room !== currentRoom.value && message.author.id !== identity.value?.id) {
      view.unread.value++;
    }
  });
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
      view.messages.value = [];
      view.hasMore.value = false;
    }
  });
}

function byName(a: Member, b: Member): number {
  return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}
