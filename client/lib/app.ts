/**
 * The chat app's actions: wires the socket's replies and pushes into the shared
 * state. Islands call these; nothing else talks to the socket.
 */
import { batch, effect } from "@preact/signals";
import { CLOSE_CODES } from "../../protocol/errors.ts";
import { ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import type {
  Member,
  RequestBody,
  RequestType,
  ResultOf,
  RoomInfo,
} from "../../protocol/messages.ts";
import { createSession, fetchIdentities, forgetSession } from "./api.ts";
import { ParleySocket, RequestError } from "./socket.ts";
import { RoomSync } from "./sync.ts";
import {
  addPending,
  applyPresence,
  atBottom,
  connection,
  currentRoom,
  editing,
  gateMessage,
  gateOpen,
  identity,
  knownIdentities,
  markDisconnected,
  pageVisible,
  panel,
  removePending,
  rooms,
  roomView,
  setTyping,
  updatePending,
  upsertRoom,
} from "./state.ts";

const UID_KEY = "parley.uid";
/** The room this tab had open, so a reload returns to it. */
const ROOM_KEY = "parley.room";
const DEFAULT_ROOM = "general";
const SESSION_LOST = "This browser no longer holds that identity. Please pick a name again.";

let socket: ParleySocket | null = null;
/** True between an accepted `hello` and the next disconnect: requests may be sent. */
let ready = false;
/** Rooms this tab opened or the user is a member of; joined again after every reconnect. */
const openedRooms = new Set<string>();
const sync = new RoomSync(request);

export async function start(): Promise<void> {
  addEventListener("online", () => socket?.retryNow());
  const updateVisible = () => pageVisible.value = document.visibilityState === "visible";
  updateVisible();
  document.addEventListener("visibilitychange", updateVisible);
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
  let identities: Member[] = [];
  let problem: string | null = null;
  try {
    identities = await fetchIdentities();
  } catch (err) {
    problem = (err as Error).message;
  }
  knownIdentities.value = identities;
  const uid = sessionStorage.getItem(UID_KEY);
  const me = identities.find((m) => m.id === uid);
  if (me) connectAs(me);
  else showGate(problem);
}

/** Create a new identity with `name` and use it in this tab. */
export async function signUp(name: string): Promise<void> {
  const user = await createSession(name.trim());
  knownIdentities.value = [...knownIdentities.value.filter((m) => m.id !== user.id), user];
  connectAs(user);
}

export function connectAs(user: Member): void {
  sessionStorage.setItem(UID_KEY, user.id);
  batch(() => {
    identity.value = user;
    gateOpen.value = false;
    gateMessage.value = null;
  });
  socket?.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new ParleySocket({
    url: `${scheme}://${location.host}/ws?uid=${encodeURIComponent(user.id)}`,
    onReady,
  });
  socket.onStatus((status) => {
    connection.value = status;
    if (status.state === "offline") {
      ready = false;
      markDisconnected();
    }
    if (status.state === "offline" && status.retryAt !== null) checkIdentity(user);
    if (status.state === "offline" && status.closeCode === CLOSE_CODES.unauthorized) {
      showGate(SESSION_LOST);
    }
  });
  socket.on("message", (f) => sync.receive(f.message));
  socket.on("read", (f) => sync.markRead(f.room, f.seq));
  socket.on("receipt", (f) => sync.receipt(f.room, { user: f.user, seq: f.seq }));
  socket.on("presence", (f) => applyPresence(f.room, f.joins, f.leaves));
  socket.on("typing", (f) => {
    if (f.user.id !== identity.value?.id) setTyping(f.room, f.user, f.active);
  });
  socket.on("room", (f) => upsertRoom(f.room));
  socket.on("error", (f) => console.warn(`parley: ${f.error.code}: ${f.error.message}`));
  socket.connect();
}

/** Forget an identity in this browser (the cookie entry) and, if it is ours, in this tab. */
export async function forgetIdentity(user: Member): Promise<void> {
  await forgetSession(user.id);
  knownIdentities.value = knownIdentities.value.filter((m) => m.id !== user.id);
  if (sessionStorage.getItem(UID_KEY) === user.id) sessionStorage.removeItem(UID_KEY);
}

/** Leave this identity in this tab; a reload starts clean at the name gate. */
export function switchUser(): void {
  sessionStorage.removeItem(UID_KEY);
  socket?.close();
  location.reload();
}

export function retryConnection(): void {
  socket?.retryNow();
}

/**
 * A refused upgrade (e.g. 401 for an identity the cookie no longer holds) reaches the
 * browser only as an abnormal close, so ask the REST API whether we still have it.
 */
async function checkIdentity(user: Member): Promise<void> {
  let identities: Member[];
  try {
    identities = await fetchIdentities();
  } catch {
    return; // Server unreachable: keep retrying the socket.
  }
  knownIdentities.value = identities;
  if (identity.value?.id === user.id && !identities.some((m) => m.id === user.id)) {
    showGate(SESSION_LOST);
  }
}

function showGate(message: string | null): void {
  socket?.close();
  socket = null;
  batch(() => {
    identity.value = null;
    gateMessage.value = message;
    gateOpen.value = true;
    connection.value = { state: "offline", retryAt: null, closeCode: null };
  });
}

async function onReady(hello: ResultOf<"hello">): Promise<void> {
  sync.hello(hello.epoch);
  ready = true;
  identity.value = hello.user;
  let list: RoomInfo[];
  try {
    ({ rooms: list } = await request("room.list", {}));
  } catch {
    return; // The connection dropped again; the next `hello` starts over.
  }
  batch(() => {
    rooms.value = [];
    for (const info of list) {
      upsertRoom(info);
      if (info.unread !== undefined) roomView(info.name).unread.value = info.unread;
      // Membership outlives connections: keep every member room live for unread counts.
      if (info.member) openedRooms.add(info.name);
    }
  });
  if (currentRoom.value === null) {
    const names = list.map((r) => r.name);
    const wanted = [roomFromHash(), sessionStorage.getItem(ROOM_KEY), DEFAULT_ROOM, names[0]];
    const first = wanted.find((n) => n && names.includes(n));
    if (first) openRoom(first);
  }
  await Promise.all([...openedRooms].map(join));
}

/** Make `room` the current room, joining it the first time. */
export function openRoom(room: string): void {
  batch(() => {
    currentRoom.value = room;
    panel.value = null;
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
    return;
  }
  drainOutbox();
}

/** The room is gone (e.g. the server's history was reset): stop joining it, move elsewhere. */
function forgetRoom(room: string): void {
  openedRooms.delete(room);
  if (currentRoom.value !== room) return;
  const names = (rooms.value ?? []).map((r) => r.name).filter((n) => n !== room);
  const next = names.includes(DEFAULT_ROOM) ? DEFAULT_ROOM : names[0];
  if (next) openRoom(next);
}

/** Create a room and open it; an existing room of that name is simply opened. */
export async function createRoom(
  name: string,
  options: { topic?: string; receipts?: boolean } = {},
): Promise<void> {
  if (!ROOM_NAME_PATTERN.test(name)) throw new Error("Use 1–32 of a-z, 0-9, - and _.");
  try {
    const { room } = await request("room.create", { room: name, ...options });
    upsertRoom(room);
  } catch (err) {
    if (!(err instanceof RequestError && err.code === "room_exists")) throw err;
  }
  openRoom(name);
}

export function loadEarlier(room: string): Promise<void> {
  return sync.loadEarlier(room);
}

/** Replace the text of one of our messages; rejects with the server's reason. */
export function editMessage(room: string, seq: number, text: string): Promise<void> {
  return sync.edit(room, seq, text);
}

/** Delete a message (ours, or any in a room we created); rejects with the server's reason. */
export function deleteMessage(room: string, seq: number): Promise<void> {
  return sync.delete(room, seq);
}

/** Edit our newest message in `room` (ArrowUp in an empty composer); false if there is none. */
export function editLastMessage(room: string): boolean {
  const me = identity.value?.id;
  const last = roomView(room).messages.value.findLast((m) => m.author.id === me && !m.deleted);
  if (!last) return false;
  editing.value = { room, seq: last.seq };
  return true;
}

interface Outgoing {
  room: string;
  nonce: string;
  text: string;
}

/**
 * Messages waiting to be sent, oldest first. One is in flight at a time so the room
 * sees them in the order they were written, even across rate limits and reconnects.
 */
const outbox: Outgoing[] = [];
let draining = false;

/** Show `text` at once as pending; the outbox swaps in the committed message. */
export function sendMessage(room: string, text: string): void {
  const nonce = crypto.randomUUID();
  addPending(room, { nonce, text, ts: Date.now(), error: null });
  outbox.push({ room, nonce, text });
  drainOutbox();
}

/** Queue a failed message again with the same nonce, so the server can drop a duplicate. */
export function retryMessage(room: string, nonce: string, text: string): void {
  updatePending(room, nonce, null);
  outbox.push({ room, nonce, text });
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
        const { message } = await request("send", item);
        sync.committed(message);
      } catch (err) {
        const code = err instanceof RequestError ? err.code : "internal";
        if (code === "rate_limited") {
          await sleep((err as RequestError).retryAfterMs ?? 1000);
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

function request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<ResultOf<T>> {
  if (!socket) return Promise.reject(new RequestError("disconnected", "Not connected."));
  return socket.request(type, body);
}

function roomFromHash(): string | null {
  const name = decodeURIComponent(location.hash.slice(1));
  return ROOM_NAME_PATTERN.test(name) ? name : null;
}
