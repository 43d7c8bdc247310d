/**
 * Opt-in desktop notifications: while the tab is hidden, a message that mentions the
 * user (or @room) or arrives in a direct message shows a system notification; clicking
 * it brings the tab forward with that room open. Off until the user switches it on
 * (which asks the browser's permission); the choice is kept in localStorage.
 */
import { signal } from "@preact/signals";
import type { Message, RoomInfo } from "../../protocol/messages.ts";
import { roomLabel } from "./access.ts";
import { mentionsUser } from "./composer_mentions.ts";
import { identity, roomInfo } from "./state.ts";

const PREF_KEY = "parley.notifications";
/** How much of a message a notification shows. */
const BODY_CHARS = 140;

/** Whether this browser can show notifications at all. */
export function notificationsSupported(): boolean {
  return typeof globalThis.Notification === "function";
}

function initial(): boolean {
  try {
    return notificationsSupported() && Notification.permission === "granted" &&
      localStorage.getItem(PREF_KEY) === "on";
  } catch {
    return false;
  }
}

/** The user switched notifications on and the browser allows them. */
export const notificationsOn = signal(typeof document === "undefined" ? false : initial());

/**
 * Switch notifications on, asking the browser first; resolves to whether they are on.
 * Refused permission leaves them off, and says so by the rejection's message.
 */
export async function enableNotifications(): Promise<boolean> {
  if (!notificationsSupported()) throw new Error("This browser cannot show notifications.");
  const permission = Notification.permission === "granted"
    ? "granted"
    : await Notification.requestPermission();
  if (permission !== "granted") {
    throw new Error(
      permission === "denied"
        ? "Notifications are blocked for this site; allow them in the browser's settings."
        : "Notifications were not allowed.",
    );
  }
  localStorage.setItem(PREF_KEY, "on");
  notificationsOn.value = true;
  return true;
}

export function disableNotifications(): void {
  localStorage.setItem(PREF_KEY, "off");
  notificationsOn.value = false;
}

/**
 * Whether `entry` deserves a notification for the user `me`: a fresh text message by
 * someone else that mentions them or is in a direct message.
 */
export function worthNotifying(
  entry: Message,
  info: RoomInfo | undefined,
  me: { id: string; name: string } | null,
): boolean {
  if (!me || entry.kind !== "text" || entry.deleted || entry.author.id === me.id) return false;
  return info?.kind === "dm" || mentionsUser(entry, me.name);
}

/** The notification's title and body for `entry`. */
export function notificationText(
  entry: Message,
  info: RoomInfo | undefined,
  me: { id: string; name: string } | null,
): { title: string; body: string } {
  const where = info?.kind === "dm" ? "" : ` in #${info ? roomLabel(info, me) : entry.room}`;
  const text = entry.text.trim() || (entry.file ? `sent ${entry.file.name}` : "");
  const body = text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS - 1)}…` : text;
  return { title: `${entry.author.name}${where}`, body };
}

/** Entries already notified, so a replay or a duplicate push does not notify twice. */
const shown = new Set<string>();

/**
 * A live message arrived: notify when switched on, the tab is hidden and it is worth it.
 * `open` shows the room once the notification is clicked.
 */
export function notifyIncoming(entry: Message, open: (room: string) => void): void {
  if (!notificationsOn.value || !notificationsSupported()) return;
  if (document.visibilityState !== "hidden") return;
  if (Notification.permission !== "granted") return;
  const info = roomInfo(entry.room);
  const me = identity.value;
  if (!worthNotifying(entry, info, me)) return;
  const key = `${entry.room}#${entry.seq}`;
  if (shown.has(key)) return;
  shown.add(key);
  if (shown.size > 500) shown.delete(shown.values().next().value!);
  const { title, body } = notificationText(entry, info, me);
  try {
    const n = new Notification(title, { body, tag: key });
    n.onclick = () => {
      globalThis.focus();
      open(entry.room);
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker: nothing to show.
  }
}
