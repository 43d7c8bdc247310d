/**
 * The chat app's actions: wires the socket's replies and pushes into the shared
 * state. Islands call these; nothing else talks to the socket.
 */
import { batch } from "@preact/signals";
import { CLOSE_CODES } from "../../protocol/errors.ts";
import { ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import type { Member, RequestBody, RequestType, ResultOf } from "../../protocol/messages.ts";
import { createSession, fetchIdentities, forgetSession } from "./api.ts";
import { ParleySocket, RequestError } from "./socket.ts";
import {
  addPending,
  applyPresence,
  commitMessages,
  connection,
  currentRoom,
  forgetHistory,
  gateMessage,
  gateOpen,
  identity,
  knownIdentities,
  markDisconnected,
  mergeBySeq,
  panel,
  receiveMessage,
  removePending,
  rooms,
  roomView,
  setPresence,
  setTyping,
  updatePending,
  upsertRoom,
} from "./state.ts";

const UID_KEY = "parley.uid";
const DEFAULT_ROOM = "general";
const SESSION_LOST = "This browser no longer holds that identity. Please pick a name again.";

let socket: ParleySocket | null = null;
/** True between an accepted `hello` and the next disconnect: requests may be sent. */
let ready = false;
/** Rooms this tab opened; they are joined again after every reconnect. */
const openedRooms = new Set<string>();
/** The history epoch of the last session; a new one means our seqs are void. */
let epoch: string | null = null;

export async function start(): Promise<void> {
  addEventListener("online", () => socket?.retryNow());
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
  socket.on("message", (f) => receiveMessage(f.message));
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
  if (epoch !== null && hello.epoch !== epoch) forgetHistory();
  epoch = hello.epoch;
  ready = true;
  identity.value = hello.user;
  const { rooms: list } = await request("room.list", {});
  batch(() => {
    rooms.value = [];
    for (const info of list) upsertRoom(info);
  });
  await Promise.all([...openedRooms].map(join));
  drainOutbox();
  if (currentRoom.value === null) {
    const wanted = roomFromHash();
    const names = list.map((r) => r.name);
    const first = [wanted, DEFAULT_ROOM, names[0]].find((n) => n && names.includes(n));
    if (first) openRoom(first);
  }
}

/** Make `room` the current room, joining it the first time. */
export function openRoom(room: string): void {
  const view = roomView(room);
  batch(() => {
    currentRoom.value = room;
    view.unread.value = 0;
    panel.value = null;
  });
  if (location.hash.slice(1) !== room) history.replaceState(null, "", `#${room}`);
  openedRooms.add(room);
  if (ready) join(room);
}

async function join(room: string): Promise<void> {
  const view = roomView(room);
  if (view.joined.value !== "no") return;
  view.joined.value = "joining";
  view.error.value = null;
  let page: ResultOf<"room.join">;
  try {
    page = await request("room.join", { room });
  } catch (err) {
    view.joined.value = "no";
    view.error.value = (err as Error).message;
    if (err instanceof RequestError && err.code === "room_not_found") forgetRoom(room);
    return;
  }
  const held = view.messages.value;
  const lastHeld = held.at(-1)?.seq ?? 0;
  const firstNew = page.messages[0]?.seq;
  // Missed more than one page while away: keep only the fresh page, "load earlier" fills in.
  const gap = held.length > 0 && firstNew !== undefined && firstNew > lastHeld + 1;
  batch(() => {
    upsertRoom(page.room);
    if (gap) view.messages.value = [];
    commitMessages(room, page.messages);
    if (gap || held.length === 0) view.hasMore.value = page.hasMore;
    setPresence(room, page.presence);
    view.joined.value = "yes";
  });
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
export async function createRoom(name: string, topic?: string): Promise<void> {
  if (!ROOM_NAME_PATTERN.test(name)) throw new Error("Use 1–32 of a-z, 0-9, - and _.");
  try {
    const { room } = await request("room.create", topic ? { room: name, topic } : { room: name });
    upsertRoom(room);
  } catch (err) {
    if (!(err instanceof RequestError && err.code === "room_exists")) throw err;
  }
  openRoom(name);
}

export async function loadEarlier(room: string): Promise<void> {
  const view = roomView(room);
  const before = view.messages.value[0]?.seq;
  if (before === undefined || view.loadingEarlier.value) return;
  view.loadingEarlier.value = true;
  try {
    const page = await request("history", { room, before });
    batch(() => {
      view.messages.value = mergeBySeq(view.messages.value, page.messages);
      view.hasMore.value = page.hasMore;
    });
  } catch (err) {
    view.error.value = (err as Error).message;
  } finally {
    view.loadingEarlier.value = false;
  }
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
      try {
        const { message } = await request("send", item);
        commitMessages(item.room, [message]);
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
