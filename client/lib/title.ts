/**
 * The tab title: "(3) @1 · Parley" while 3 messages are unread in the rooms we are in,
 * 1 of them mentioning us; just "Parley" when there is nothing new.
 */
import { effect } from "@preact/signals";
import { peekRoomView, rooms } from "./state.ts";

/** The title for `base` with these counts. */
export function titleText(base: string, unread: number, mentions: number): string {
  const parts: string[] = [];
  if (unread > 0) parts.push(`(${unread > 999 ? "999+" : unread})`);
  if (mentions > 0) parts.push(`@${mentions > 99 ? "99+" : mentions}`);
  return parts.length ? `${parts.join(" ")} · ${base}` : base;
}

/** Unread messages and unread mentions, summed over every listed room. */
export function totals(): { unread: number; mentions: number } {
  let unread = 0;
  let mentions = 0;
  for (const info of rooms.value ?? []) {
    const view = peekRoomView(info.name);
    if (!view) continue;
    unread += view.unread.value;
    mentions += view.mentions.value;
  }
  return { unread, mentions };
}

let stop: (() => void) | null = null;

/** Keep `document.title` in step with the counts; the page's own title is the base. */
export function watchTitle(base = document.title): () => void {
  stop?.();
  const dispose = effect(() => {
    const { unread, mentions } = totals();
    const next = titleText(base, unread, mentions);
    if (document.title !== next) document.title = next;
  });
  stop = () => {
    dispose();
    document.title = base;
    stop = null;
  };
  return stop;
}
