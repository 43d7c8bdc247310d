/**
 * The chat app's actions: wires the socket's replies and pushes into the shared
 * state. Islands call these; nothing else talks to the socket.
 */
import { batch, effect } from "@preact/signals";
import { CLOSE_CODES } from "../../protocol/errors.ts";
import { ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import type {
  FileRef,
  Member,
  ModerationEvent,
  RequestBody,
  RequestType,
  ResultOf,
  RoomInfo,
  RoomMember,
} from "../../protocol/messages.ts";
import type { RoomKind, RoomRole } from "../../protocol/permissions.ts";
import { roomLabel } from "./access.ts";
import {
  continueAsGuest,
  fetchMe,
  login,
  logout,
  type Me,
  register,
  type SignedIn,
} from "./api.ts";
import { mergeFeatures, socketUrl } from "./config.ts";
import { clearMemberCache } from "./composer_mentions.ts";
import { dispatchCustomPush } from "./custom.ts";
import { notifyIncoming } from "./notify.ts";
import { ParleySocket, RequestError } from "./socket.ts";
import { RoomSync } from "./sync.ts";
import { watchTitle } from "./title.ts";
import {
  addModeration,
  addNote,
  addPending,
  applyPresence,
  atBottom,
  commands,
  connection,
  currentRoom,
  dismissNotice,
  editing,
  features,
  gate,
  gateMessage,
  identity,
  markDisconnected,
  messageKey,
  notify,
  pageVisible,
  panel,
  patchRoom,
  removePending,
  removeRoom,
  resetState,
  rooms,
  roomView,
  serverAccess,
  serverRole,
  setDeleting,
  settingsOpen,
  setTyping,
  updatePending,
  upsertRoom,
  userCard,
} from "./state.ts";

/** The room this tab had open, so a reload returns to it. */
const ROOM_KEY = "parley.room";
const DEFAULT_ROOM = "general";
const SIGNED_OUT = "You were signed out.";
/** Close codes that end the session, and what the sign-in page says about them. */
const SESSION_ENDED: Partial<Record<number, string>> = {
  [CLOSE_CODES.unauthorized]: SIGNED_OUT,
  [CLOSE_CODES.sessionRevoked]: SIGNED_OUT,
  [CLOSE_CODES.tokenExpired]: "Your session expired. Please sign in again.",
  [CLOSE_CODES.accountDisabled]: "This account is disabled.",
};

let socket: ParleySocket | null = null;
/** True between an accepted `hello` and the next disconnect: requests may be sent. */
let ready = false;
/** Rooms this tab opened or the user is a member of; joined again after every reconnect. */
const openedRooms = new Set<string>();
let sync = new RoomSync(request);

export async function start(): Promise<void> {
  addEventListener("online", () => socket?.retryNow());
  const updateVisible = () => pageVisible.value = document.visibilityState === "visible";
  updateVisible();
  document.addEventListener("visibilitychange", updateVisible);
  watchTitle();
  // Reading is looking at the end of the open room in a visible tab.
  effect(() => {
    const room = currentRoom.value;
    if (!room || !pageVisible.value || !atBottom.value) return;
    const view = roomView(room);
    if (view.joined.value === "yes" && view.seenSeq.value > view.readSeq.value) {
      sync.scheduleRead(room);
    }
  });
  addEventListener("hashchange", () => {
    const room = roomFromHash();
    if (room && room !== currentRoom.value) openRoom(room);
  });
  let me: Me;
  try {
    me = await fetchMe();
  } catch (err) {
    return showGate((err as Error).message);
  }
  serverAccess.value = { registration: me.registration, guests: me.guests };
  if (me.signedIn) connect(me);
  else showGate(null);
}

/** Sign in with a username and password; rejects with the server's reason (an ApiError). */
export async function signIn(username: string, password: string): Promise<void> {
  connect(await login(username.trim(), password));
}

/** Create an account and sign in with it. */
export async function signUp(username: string, password: string, invite?: string): Promise<void> {
  connect(await register(username.trim(), password, invite?.trim() || undefined));
}

export async function signInAsGuest(): Promise<void> {
  connect(await continueAsGuest());
}

/** End this session (or all of them) and go back to the sign-in page. */
export async function signOut(everywhere = false): Promise<void> {
  await logout(everywhere);
  showGate(everywhere ? "You signed out on every device." : "You signed out.");
}

function connect(who: SignedIn): void {
  closeSocket();
  batch(() => {
    identity.value = who.user;
    serverRole.value = who.role;
    gate.value = "closed";
    gateMessage.value = null;
  });
  // The session cookie authenticates the upgrade; nothing secret goes in the URL.
  const s = new ParleySocket({ url: socketUrl(location), onReady });
  socket = s;
  s.onStatus((status) => {
    if (socket !== s) return; // A socket we closed ourselves, e.g. on sign-out.
    connection.value = status;
    if (status.state !== "offline") return;
    ready = false;
    markDisconnected();
    const ended = status.closeCode === null ? undefined : SESSION_ENDED[status.closeCode];
    if (ended) showGate(ended);
    else if (status.retryAt !== null) checkSession();
  });
  s.on("message", (f) => {
    sync.receive(f.message);
    notifyIncoming(f.message, openRoom);
  });
  s.on("read", (f) => sync.markRead(f.room, f.seq));
  s.on("receipt", (f) => sync.receipt(f.room, { user: f.user, seq: f.seq }));
  s.on("presence", (f) => applyPresence(f.room, f.joins, f.leaves));
  s.on("typing", (f) => {
    if (f.user.id !== identity.value?.id) setTyping(f.room, f.user, f.active);
  });
  s.on("room", (f) => roomChanged(f.room));
  s.on("moderation", (f) => moderated(f.event));
  s.on(
    "room.removed",
    (f) => f.reason === "left" ? leftRoom(f.room) : removedFrom(f.room, f.reason),
  );
  s.on("error", (f) => console.warn(`parley: ${f.error.code}: ${f.error.message}`));
  // An application's own pushes: its code in the page may subscribe; the chat ignores them.
  s.on("custom", (f) => dispatchCustomPush(f));
  s.connect();
}

export function retryConnection(): void {
  socket?.retryNow();
}

let checking = false;

/**
 * A refused upgrade (401 once the session is gone) reaches the browser only as an
 * abnormal close, so ask the REST API whether we are still signed in.
 */
async function checkSession(): Promise<void> {
  if (checking) return;
  checking = true;
  try {
    const me = await fetchMe();
    serverAccess.value = { registration: me.registration, guests: me.guests };
    if (!me.signedIn) showGate(SIGNED_OUT);
    // Another tab signed this browser in as someone else: start over as them.
    else if (identity.value && me.user.id !== identity.value.id) location.reload();
  } catch {
    // Server unreachable: keep retrying the socket.
  } finally {
    checking = false;
  }
}

function closeSocket(): void {
  const old = socket;
  socket = null;
  ready = false;
  old?.close();
}

/** Back to the sign-in page, forgetting everything the last user had in this tab. */
function showGate(message: string | null): void {
  closeSocket();
  openedRooms.clear();
  // Messages still queued were written by the user who left; never send them as the next.
  outbox.length = 0;
  for (const undo of [...waitingDeletes.values()]) undo();
  sync = new RoomSync(request);
  resetState();
  clearMemberCache();
  batch(() => {
    gateMessage.value = message;
    gate.value = "open";
    connection.value = { state: "offline", retryAt: null, closeCode: null };
  });
}

async function onReady(hello: ResultOf<"hello">): Promise<void> {
  // The cookie now belongs to someone else (signed in from another tab): start clean.
  if (identity.value && hello.user.id !== identity.value.id) {
    location.reload();
    return;
  }
  sync.hello(hello.epoch);
  ready = true;
  batch(() => {
    identity.value = hello.user;
    serverRole.value = hello.role;
    // The page said what is switched on; the socket's word is the latest.
    if (hello.features) features.value = mergeFeatures(hello.features);
    commands.value = hello.commands ?? [];
  });
  let list: RoomInfo[];
  try {
    ({ rooms: list } = await request("room.list", {}));
  } catch {
    return; // The connection dropped again; the next `hello` starts over.
  }
  const names = list.map((r) => r.name);
  batch(() => {
    rooms.value = [];
    for (const info of list) {
      upsertRoom(info);
      if (info.unread !== undefined) roomView(info.name).unread.value = info.unread;
      if (info.mentions !== undefined) roomView(info.name).mentions.value = info.mentions;
      // Membership outlives connections: keep every member room live for unread counts.
      if (info.member) openedRooms.add(info.name);
    }
  });
  // Rooms that went out of sight while we were away (removed, or we lost access).
  for (const room of [...openedRooms]) if (!names.includes(room)) forgetRoom(room);
  if (currentRoom.value === null) {
    const wanted = [roomFromHash(), sessionStorage.getItem(ROOM_KEY), DEFAULT_ROOM, names[0]];
    const first = wanted.find((n) => n && names.includes(n));
    if (first) openRoom(first);
  }
  await Promise.all([...openedRooms].map(join));
}

/** Fetch the room list again, e.g. after an invitation to a room we could not see. */
async function refreshRooms(): Promise<void> {
  if (!ready) return;
  try {
    const { rooms: list } = await request("room.list", {});
    batch(() => {
      for (const info of list) upsertRoom(info, { merge: true });
    });
  } catch {
    // The next `hello` lists them anyway.
  }
}

/** A `room` push: created, changed, or a dm someone opened with us. */
function roomChanged(info: RoomInfo): void {
  upsertRoom(info, { merge: true });
  const me = identity.value?.id;
  // A dm is membership from the start: join it, so its messages count as unread.
  if (info.kind === "dm" && info.peers?.some((p) => p.id === me) && !openedRooms.has(info.name)) {
    openedRooms.add(info.name);
    if (ready) join(info.name);
  }
}

function moderated(event: ModerationEvent): void {
  addModeration(event);
  const me = identity.value?.id;
  if (event.target?.id !== me) return;
  switch (event.action) {
    case "mute":
      patchRoom(event.room, { mutedUntil: event.until ?? undefined });
      break;
    case "unmute":
      patchRoom(event.room, { mutedUntil: undefined });
      break;
    case "role":
      if (event.role) patchRoom(event.room, { role: event.role });
      break;
    case "invite":
      if (!rooms.value?.some((r) => r.name === event.room)) refreshRooms();
      notify(`${event.actor.name} invited you to #${event.room}`);
      break;
    // `room.removed` reaches only sockets in the room; this one may not have joined it.
    case "kick":
      removedFrom(event.room, "kicked");
      break;
    case "ban":
      removedFrom(event.room, "banned");
      break;
  }
}

const REMOVED_TEXT: Record<string, (label: string) => string> = {
  kicked: (label) => `You were kicked from ${label}`,
  banned: (label) => `You were banned from ${label}`,
  deleted: (label) => `${label} was deleted`,
  disabled: (label) => `${label} was disabled by an admin`,
};

/** A `room.removed` push: we are out of the room; leave it and say why. */
function removedFrom(room: string, reason: string): void {
  const info = rooms.value?.find((r) => r.name === room);
  // Told twice (the moderation event and the push): once is enough.
  if (!info && !openedRooms.has(room)) return;
  const label = info?.kind === "dm"
    ? `the conversation with ${roomLabel(info, identity.value)}`
    : `#${info ? roomLabel(info, identity.value) : room}`;
  failOutbox(room, "You are no longer in this room.");
  forgetRoom(room);
  removeRoom(room);
  notify((REMOVED_TEXT[reason] ?? REMOVED_TEXT.deleted!)(label));
}

/** Make `room` the current room, joining it the first time. */
export function openRoom(room: string): void {
  batch(() => {
    if (currentRoom.value !== room) settingsOpen.value = false;
    currentRoom.value = room;
    panel.value = null;
    userCard.value = null;
  });
  sessionStorage.setItem(ROOM_KEY, room);
  if (location.hash.slice(1) !== room) history.replaceState(null, "", `#${room}`);
  openedRooms.add(room);
  if (ready) join(room);
}

async function join(room: string): Promise<void> {
  try {
    await sync.join(room);
  } catch (err) {
    if (err instanceof RequestError && err.code === "disconnected") return;
    failOutbox(room, (err as Error).message);
    if (err instanceof RequestError && err.code === "room_not_found") forgetRoom(room);
    // Refused (private, banned): the view shows why; do not try again on every reconnect.
    else if (err instanceof RequestError && err.code === "forbidden") openedRooms.delete(room);
    return;
  }
  drainOutbox();
}

/** The room is gone or out of reach: stop joining it, and move elsewhere if it is open. */
function forgetRoom(room: string): void {
  openedRooms.delete(room);
  if (currentRoom.value !== room) return;
  const names = (rooms.value ?? []).map((r) => r.name).filter((n) => n !== room);
  const next = names.includes(DEFAULT_ROOM) ? DEFAULT_ROOM : names[0];
  if (next) openRoom(next);
  else {
    batch(() => {
      currentRoom.value = null;
      settingsOpen.value = false;
    });
  }
}

export interface NewRoom {
  kind?: Exclude<RoomKind, "dm">;
  title?: string;
  topic?: string;
  receipts?: boolean;
}

/** Create a room and open it; an existing room of that name is simply opened. */
export async function createRoom(name: string, options: NewRoom = {}): Promise<void> {
  if (!ROOM_NAME_PATTERN.test(name)) throw new Error("Use 1–32 of a-z, 0-9, - and _.");
  try {
    const { room } = await request("room.create", { room: name, ...options });
    upsertRoom(room);
  } catch (err) {
    if (!(err instanceof RequestError && err.code === "room_exists")) throw err;
  }
  openRoom(name);
}

/** Open (or create) the direct-message room with `user`, and show it. */
export async function openDm(user: Member): Promise<void> {
  const { room } = await request("dm.open", { user: user.id });
  upsertRoom(room, { merge: true });
  openRoom(room.name);
}

export type MembersReply = ResultOf<"room.members">;
export type { RoomMember };

export function fetchMembers(room: string): Promise<MembersReply> {
  return request("room.members", { room });
}

/** Invite someone by username; resolves to who was invited. */
export async function inviteByName(room: string, name: string): Promise<Member> {
  const { user } = await request("user.find", { name: name.trim() });
  await request("room.invite", { room, user: user.id });
  return user;
}

export async function kick(room: string, user: string, reason?: string): Promise<void> {
  await request("room.kick", { room, user, ...(reason ? { reason } : {}) });
}

/** Ban for `minutes`, or for ever when absent. */
export async function ban(
  room: string,
  user: string,
  minutes?: number,
  reason?: string,
): Promise<void> {
  await request("room.ban", {
    room,
    user,
    ...(minutes ? { minutes } : {}),
    ...(reason ? { reason } : {}),
  });
}

export async function unban(room: string, user: string): Promise<void> {
  await request("room.unban", { room, user });
}

export async function mute(room: string, user: string, minutes: number): Promise<void> {
  await request("room.mute", { room, user, minutes });
}

export async function unmute(room: string, user: string): Promise<void> {
  await request("room.unmute", { room, user });
}

export async function setRole(room: string, user: string, role: RoomRole): Promise<void> {
  await request("room.role", { room, user, role });
}

export async function updateRoom(
  room: string,
  patch: Omit<RequestBody<"room.update">, "room">,
): Promise<void> {
  const { room: info } = await request("room.update", { room, ...patch });
  upsertRoom(info, { merge: true });
}

/** Delete the room for everyone; the `room.removed` push takes it off the list. */
export async function deleteRoom(room: string): Promise<void> {
  await request("room.delete", { room });
}

export function fetchModlog(room: string, before?: number): Promise<ResultOf<"room.modlog">> {
  return request("room.modlog", { room, ...(before === undefined ? {} : { before }) });
}

export function loadEarlier(room: string): Promise<void> {
  return sync.loadEarlier(room);
}

/** Replace the text of one of our messages; rejects with the server's reason. */
export function editMessage(room: string, seq: number, text: string): Promise<void> {
  return sync.edit(room, seq, text);
}

/** How long a delete waits, with an Undo, before it is sent. */
const UNDO_DELETE_MS = 5000;
/** Deletes waiting out their undo time, by `messageKey`: each one's undo. */
const waitingDeletes = new Map<string, () => void>();

/**
 * Delete a message (ours, or any as a moderator) once the user has had a few seconds to
 * undo it: nothing is sent before. Resolves when it is deleted or undone; rejects with
 * the server's reason.
 */
export function deleteMessage(room: string, seq: number): Promise<void> {
  const key = messageKey(room, seq);
  if (waitingDeletes.has(key)) return Promise.resolve();
  setDeleting(room, seq, true);
  return new Promise((resolve, reject) => {
    let notice = 0;
    const done = () => {
      clearTimeout(timer);
      waitingDeletes.delete(key);
      dismissNotice(notice);
    };
    const undo = () => {
      done();
      setDeleting(room, seq, false);
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      // Marked until the server answers, so the text does not come back in between.
      sync.delete(room, seq).then(resolve, reject).finally(() => setDeleting(room, seq, false));
    }, UNDO_DELETE_MS);
    waitingDeletes.set(key, undo);
    notice = notify("Message deleted.", UNDO_DELETE_MS, { label: "Undo", run: undo });
  });
}

/** Keep a message whose delete is still waiting: nothing was sent. */
export function undoDelete(room: string, seq: number): void {
  waitingDeletes.get(messageKey(room, seq))?.();
}

/** Edit our newest message in `room` (ArrowUp in an empty composer); false if there is none. */
export function editLastMessage(room: string): boolean {
  if (!features.value.edits) return false;
  const me = identity.value?.id;
  const last = roomView(room).messages.value.findLast((m) => m.author.id === me && !m.deleted);
  if (!last) return false;
  editing.value = { room, seq: last.seq };
  return true;
}

export type CommandReply = ResultOf<"command">;

/**
 * Run a slash command in `room`. Commands are not messages: they never wait in the
 * outbox, so offline they fail at once. A message the command posted (/me) is shown
 * like our own; its text feedback becomes a note in the room only this user sees.
 * Rejects with the server's reason (`unknown_command`, `forbidden`, …).
 */
export async function runCommand(room: string, name: string, args: string): Promise<CommandReply> {
  if (!ready || !socket) {
    throw new RequestError("disconnected", "You are offline; commands run once you are connected.");
  }
  const reply = await request("command", { room, name, args });
  if (reply.message) sync.committed(reply.message);
  if (name === "leave") {
    // The room goes out of view, so what the server said goes where it is still seen.
    leftRoom(room);
    if (reply.text) notify(reply.text);
  } else if (reply.text) addNote(room, reply.text);
  return reply;
}

/** We left `room` (/leave): no longer a member, nor joined again after a reconnect. */
function leftRoom(room: string): void {
  const info = rooms.value?.find((r) => r.name === room);
  batch(() => {
    const view = roomView(room);
    view.joined.value = "no";
    view.presence.value = [];
    patchRoom(room, { member: false, role: undefined });
  });
  forgetRoom(room);
  // A private room is out of sight once we are out of it.
  if (info?.kind === "private") removeRoom(room);
}

interface Outgoing {
  room: string;
  nonce: string;
  text: string;
  replyTo?: number;
  file?: FileRef;
}

/** What a message carries besides its text. */
export interface SendExtras {
  /** The seq of the message it answers. */
  replyTo?: number;
  /** An uploaded file; the text is then an optional caption. */
  file?: FileRef;
}

/**
 * Messages waiting to be sent, oldest first. One is in flight at a time so the room
 * sees them in the order they were written, even across rate limits and reconnects.
 */
const outbox: Outgoing[] = [];
let draining = false;

/** Show `text` at once as pending; the outbox swaps in the committed message. */
export function sendMessage(room: string, text: string, extras: SendExtras = {}): void {
  const nonce = crypto.randomUUID();
  addPending(room, { nonce, text, ts: Date.now(), error: null, ...extras });
  outbox.push({ room, nonce, text, ...extras });
  drainOutbox();
}

/** Queue a failed message again with the same nonce, so the server can drop a duplicate. */
export function retryMessage(room: string, nonce: string, text: string): void {
  updatePending(room, nonce, null);
  const held = roomView(room).pending.value.find((p) => p.nonce === nonce);
  const extras: SendExtras = {};
  if (held?.replyTo !== undefined) extras.replyTo = held.replyTo;
  if (held?.file) extras.file = held.file;
  outbox.push({ room, nonce, text, ...extras });
  drainOutbox();
}

export function discardMessage(room: string, nonce: string): void {
  removePending(room, nonce);
}

async function drainOutbox(): Promise<void> {
  if (draining) return;
  draining = true;
  try {
    while (ready && outbox.length > 0) {
      const item = outbox[0]!;
      // Wait for the room to be (re)joined and recovered; its join drains the outbox again.
      if (roomView(item.room).joined.value !== "yes") break;
      try {
        const { message } = await request("send", {
          room: item.room,
          nonce: item.nonce,
          // With a file the text is a caption, and may be absent.
          ...(item.text !== "" || !item.file ? { text: item.text } : {}),
          ...(item.replyTo !== undefined ? { replyTo: item.replyTo } : {}),
          ...(item.file ? { file: item.file.id } : {}),
        });
        sync.committed(message);
      } catch (err) {
        const code = err instanceof RequestError ? err.code : "internal";
        if (code === "rate_limited") {
          await sleep((err as RequestError).retryAfterMs ?? 1000);
          continue;
        }
        // The server's store is briefly away (a database restart): the same nonce again soon.
        if (code === "unavailable") {
          await sleep(1000);
          continue;
        }
        // Still pending: sent again (same nonce) once the connection is back.
        if (code === "disconnected") break;
        updatePending(item.room, item.nonce, (err as Error).message);
      }
      outbox.shift();
    }
  } finally {
    draining = false;
  }
}

/** The room cannot be joined: its queued messages fail, so the others are not held up. */
function failOutbox(room: string, reason: string): void {
  for (const item of outbox.filter((o) => o.room === room)) {
    outbox.splice(outbox.indexOf(item), 1);
    updatePending(room, item.nonce, reason);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Tell the room whether we are typing; losing this hint is harmless. */
export function sendTyping(room: string, active: boolean): void {
  if (!ready) return;
  request("typing", { room, active }).catch(() => {});
}

/** Send one request over the socket; the islands' own action modules use it too. */
export function request<T extends RequestType>(
  type: T,
  body: RequestBody<T>,
): Promise<ResultOf<T>> {
  if (!socket) return Promise.reject(new RequestError("disconnected", "Not connected."));
  return socket.request(type, body);
}

function roomFromHash(): string | null {
  const name = decodeURIComponent(location.hash.slice(1));
  return ROOM_NAME_PATTERN.test(name) ? name : null;
}
