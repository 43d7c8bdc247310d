import { Component, Fragment } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import type { Member, Message, ModerationEvent, Receipt } from "../../protocol/messages.ts";
import { DayDivider, MessageItem, sameDay, SystemLine } from "../components/MessageItem.tsx";
import { can, roomRef } from "../lib/access.ts";
import {
  deleteMessage,
  discardMessage,
  editMessage,
  loadEarlier,
  openRoom,
  request,
  retryMessage,
  undoDelete,
} from "../lib/app.ts";
import { moderationText } from "../lib/moderation.ts";
import {
  atBottom,
  commitEntries,
  connection,
  currentRoom,
  deleting,
  dismissNote,
  editing,
  features,
  identity,
  jumpTarget,
  type LocalNote,
  messageKey,
  notify,
  replyingTo,
  roomInfo,
  roomView,
  standingOf,
  threadOf,
  userCard,
} from "../lib/state.ts";

/** How close to the bottom (px) still counts as "at the bottom" for auto-scroll. */
const STICK_PX = 48;
/** Older history loads once the reader scrolls this close (px) to the top. */
const PRELOAD_PX = 800;
/** Names listed in "Seen by …" before the rest are counted. */
const SEEN_NAMES = 4;
/** Messages of one author this close together share one header. */
const GROUP_MS = 5 * 60 * 1000;
/** How long a message shown by a jump stays highlighted. */
const HIGHLIGHT_MS = 2500;
/** Messages loaded before a jump's target, for context. */
const JUMP_CONTEXT = 10;
/** Pages a jump may load forward to meet the held timeline. */
const JUMP_PAGES = 50;

/** Messages of the current room, oldest first; older pages load as the reader scrolls up. */
export function Timeline() {
  const room = currentRoom.value;
  const me = identity.value;
  const view = room ? roomView(room) : null;
  const messages = view?.messages.value ?? [];
  const pending = view?.pending.value ?? [];
  const info = roomInfo(room);
  const switches = features.value;
  const seenBy = switches.receipts && info?.receipts && view
    ? seenByMessage(messages, view.receipts.value, me?.id)
    : undefined;
  const gapAt = view?.gapAt.value ?? null;
  const gapIndex = gapAt === null ? -1 : indexFrom(messages, gapAt);
  const edited = editing.value?.room === room ? editing.value?.seq : undefined;
  const standing = standingOf(info);
  const ref = room ? roomRef(info, room, me) : "";
  const mayEdit = switches.edits && can("edit.own", standing);
  // Without direct messages, a name has nothing to offer: its card only held "Message".
  const namesOpenCards = switches.directMessages;
  const mayDeleteOwn = can("delete.own", standing);
  const mayDeleteAny = can("delete.any", standing);
  const notes = view?.notes.value ?? [];
  const deletes = deleting.value;
  /** Moderation seen live and command feedback, by time; each goes before the first later message. */
  const lines: SystemItem[] = [
    ...(view?.events.value ?? []).map((event) => ({ ts: event.ts, event })),
    ...notes.map((note) => ({ ts: note.ts, note })),
  ].sort((a, b) => a.ts - b.ts);
  let nextLine = 0;
  const linesBefore = (ts: number) => {
    const from = nextLine;
    while (nextLine < lines.length && lines[nextLine]!.ts <= ts) nextLine++;
    return lines.slice(from, nextLine).map((line) =>
      "event" in line
        ? <ModerationLine key={line.event.id} event={line.event} me={me} />
        : <CommandNote key={`note-${line.note.id}`} room={room!} note={line.note} />
    );
  };
  const online = connection.value.state === "connected";
  const mayReact = can("delete.own", standing);
  const mayReply = can("send", standing);
  const replies = replyCounts(messages);
  const [highlight, setHighlight] = useState<number | null>(null);
  const [scrolledUp, setScrolledUp] = useState(false);
  /**
   * The read marker when the room was opened, and the newest message then: "New messages"
   * marks what was unread on arrival, not what arrives while the reader watches.
   */
  const marker = useRef<{ room: string | null; seq: number | null; upTo: number }>({
    room: null,
    seq: null,
    upTo: 0,
  });
  if (marker.current.room !== room) marker.current = { room, seq: null, upTo: 0 };
  if (marker.current.seq === null && view?.joined.value === "yes") {
    marker.current = { room, seq: view.readSeq.value, upTo: messages.at(-1)?.seq ?? 0 };
  }
  const { seq: markerSeq, upTo } = marker.current;
  const newFrom = markerSeq === null
    ? -1
    : messages.findIndex((m) =>
      m.seq > markerSeq && m.seq <= upTo && m.author.id !== me?.id && !m.deleted
    );
  const target = jumpTarget.value;
  const scroller = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  /** The message at the top of the viewport, and where: held still when content above changes. */
  const anchor = useRef<{ el: Element; top: number } | null>(null);
  const last = useRef<{ room: string | null; pending: number; notes: number }>({
    room: null,
    pending: 0,
    notes: 0,
  });

  /** Note where the reader is: at the end (follow new messages) or at some element. */
  const remember = () => {
    const el = scroller.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    atBottom.value = stick.current;
    setScrolledUp(!stick.current);
    anchor.current = list.current ? topChild(list.current, el.getBoundingClientRect().top) : null;
  };

  /** Load an older page when the reader nears the top, or while the page cannot scroll yet. */
  const preload = () => {
    const el = scroller.current;
    if (!el || !room || !view || view.joined.value !== "yes") return;
    if (!view.hasMore.value || view.loadingEarlier.value) return;
    if (el.scrollTop < PRELOAD_PX || el.scrollHeight <= el.clientHeight) loadEarlier(room);
  };

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const prev = last.current;
    // A new room, a message we just wrote or what a command answered: show the end.
    if (prev.room !== room || pending.length > prev.pending || notes.length > prev.notes) {
      stick.current = true;
    }
    last.current = { room, pending: pending.length, notes: notes.length };
    if (stick.current) el.scrollTop = el.scrollHeight;
    else if (anchor.current?.el.isConnected) {
      // Content changed above the reader (an older page, an edit): keep what they read in place.
      el.scrollTop += anchor.current.el.getBoundingClientRect().top - anchor.current.top;
    }
    remember();
    preload();
  });

  // Stay pinned to the bottom when the viewport shrinks (composer grows, keyboard opens).
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => {
      if (stick.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const onScroll = () => {
    remember();
    preload();
  };

  // A message to show in context (a reply's quote, search, a permalink).
  const joined = view?.joined.value;
  useEffect(() => {
    if (!target) return;
    if (target.room !== room) {
      openRoom(target.room);
      return;
    }
    if (joined !== "yes") return;
    let live = true;
    holdMessage(target.room, target.seq).then((found) => {
      if (!live) return;
      jumpTarget.value = null;
      if (!found) {
        notify("That message is no longer in the history.");
        return;
      }
      stick.current = false;
      setHighlight(target.seq);
      requestAnimationFrame(() => {
        const el = scroller.current?.querySelector<HTMLElement>(
          `[data-testid="message"][data-seq="${target.seq}"]`,
        );
        el?.scrollIntoView({ block: "center" });
        remember();
      });
      setTimeout(() => setHighlight((h) => h === target.seq ? null : h), HIGHLIGHT_MS);
    });
    return () => {
      live = false;
    };
  }, [target, room, joined]);

  const toPresent = () => {
    const el = scroller.current;
    if (!el) return;
    stick.current = true;
    el.scrollTo({ top: el.scrollHeight, behavior: "smooth" });
  };

  return (
    <div class="timeline" ref={scroller} onScroll={onScroll}>
      {!room && <p class="timeline-empty">Pick a room, or create one, to start chatting.</p>}
      {room && view && (
        <>
          {view.hasMore.value
            ? (
              <button
                type="button"
                class="load-earlier"
                data-testid="load-earlier"
                disabled={view.loadingEarlier.value}
                onClick={() => loadEarlier(room)}
              >
                {view.loadingEarlier.value ? "Loading…" : "Load earlier messages"}
              </button>
            )
            : view.joined.value === "yes" && (
              <p class="timeline-start">This is the beginning of {ref}.</p>
            )}
          {view.error.value && <p class="timeline-error" role="alert">{view.error.value}</p>}
          {view.joined.value === "joining" && messages.length === 0 && (
            <p class="timeline-empty">Loading…</p>
          )}
          {view.joined.value === "yes" && messages.length === 0 && pending.length === 0 &&
            gapAt === null && <p class="timeline-empty">No messages yet. Say hi!</p>}
          <ol class="messages" ref={list} aria-live="polite" aria-label={`Messages in ${ref}`}>
            {messages.map((m, i) => {
              const prev = messages[i - 1];
              const mine = m.author.id === me?.id;
              const system = linesBefore(m.ts - 1);
              const newDay = !prev || !sameDay(prev.ts, m.ts);
              const grouped = !!prev && !newDay && system.length === 0 && i !== gapIndex &&
                i !== newFrom && prev.author.id === m.author.id && m.ts - prev.ts < GROUP_MS &&
                !prev.deleted && !m.deleted;
              return (
                <Fragment key={m.seq}>
                  {system}
                  {i === gapIndex && <RecoveryGap />}
                  {newDay && <DayDivider ts={m.ts} />}
                  {i === newFrom && <NewMessagesDivider />}
                  <MessageRow
                    room={room}
                    message={m}
                    me={me}
                    grouped={grouped}
                    replies={replies.get(m.seq) ?? 0}
                    highlighted={m.seq === highlight}
                    mayReact={mayReact}
                    mayReply={mayReply}
                    mine={mine}
                    canEdit={mine && mayEdit}
                    canDelete={mine ? mayDeleteOwn || mayDeleteAny : mayDeleteAny}
                    editing={m.seq === edited}
                    deleting={deletes.has(messageKey(room, m.seq))}
                    seenBy={seenBy?.get(m.seq)}
                    openCard={!mine && namesOpenCards}
                  />
                </Fragment>
              );
            })}
            {linesBefore(Infinity)}
            {gapIndex === messages.length && <RecoveryGap />}
            {me && pending.map((p) => (
              <MessageItem
                key={p.nonce}
                author={me}
                me={me}
                text={p.text}
                ts={p.ts}
                mine
                pending={online ? "sending…" : "waiting for connection…"}
                error={p.error}
                onRetry={() => retryMessage(room, p.nonce, p.text)}
                onDiscard={() => discardMessage(room, p.nonce)}
              />
            ))}
          </ol>
          {scrolledUp && messages.length > 0 && (
            <button
              type="button"
              class="jump-present"
              data-testid="jump-present"
              onClick={toPresent}
            >
              Jump to present ↓
            </button>
          )}
        </>
      )}
    </div>
  );
}

/** Where the unread part of the room starts, as it was when the room was opened. */
function NewMessagesDivider() {
  return (
    <li class="new-divider" data-testid="new-divider">
      <span>New messages</span>
    </li>
  );
}

/** Replies to each held message, by its seq. */
function replyCounts(messages: readonly Message[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const m of messages) {
    const to = m.replyTo?.seq;
    if (to !== undefined && !m.deleted) counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

/**
 * Make sure `seq` of `room` is in its timeline: load history from just before it up to
 * what is held, so the timeline stays without holes. False if it is not a message (any more).
 */
async function holdMessage(room: string, seq: number): Promise<boolean> {
  const view = roomView(room);
  const held = () => view.messages.value.some((m) => m.seq === seq);
  if (held()) return true;
  const oldest = view.oldest;
  const stream = view.stream;
  if (oldest === null || seq >= oldest) return false;
  let after = Math.max(0, seq - JUMP_CONTEXT - 1);
  let first: number | undefined;
  try {
    for (let pages = 0; pages < JUMP_PAGES; pages++) {
      const page = await request("history", { room, after, limit: LIMITS.historyPageMax });
      if (view.stream !== stream) return false; // The timeline restarted meanwhile.
      first ??= page.messages[0]?.seq;
      commitEntries(room, page.messages);
      const last = page.messages.at(-1)?.seq;
      if (last === undefined || last >= oldest - 1 || !page.hasMore) break;
      after = last;
    }
  } catch (err) {
    notify((err as Error).message);
    return false;
  }
  if (first !== undefined && view.oldest !== null) {
    view.oldest = Math.min(view.oldest, first);
    // Nothing before it: the start of the room is in view.
    if (after === 0 && first <= 1) view.hasMore.value = false;
  }
  return held();
}

function ModerationLine({ event, me }: { event: ModerationEvent; me: Member | null }) {
  return <SystemLine text={moderationText(event, me)} ts={event.ts} />;
}

type SystemItem = { ts: number; event: ModerationEvent } | { ts: number; note: LocalNote };

/** What a slash command answered (/help, "Kicked bob."): only this user sees it. */
function CommandNote({ room, note }: { room: string; note: LocalNote }) {
  return (
    <li class="command-note" data-testid="command-feedback">
      <span class="command-note-text" role="note">
        <span class="command-note-label">Only you can see this</span>
        {note.text}
      </span>
      <button
        type="button"
        class="link-button"
        aria-label="Dismiss"
        data-testid="command-feedback-dismiss"
        onClick={() => dismissNote(room, note.id)}
      >
        ×
      </button>
    </li>
  );
}

function RecoveryGap() {
  return (
    <li class="recovery-gap" data-testid="recovery-gap">
      <span role="note">Some messages were skipped while you were away — showing the latest</span>
    </li>
  );
}

interface RowProps {
  room: string;
  message: Message;
  me: Member | null;
  grouped: boolean;
  replies: number;
  highlighted: boolean;
  mayReact: boolean;
  mayReply: boolean;
  mine: boolean;
  canEdit: boolean;
  canDelete: boolean;
  editing: boolean;
  /** Deleted, but the user may still undo it: nothing was sent yet. */
  deleting: boolean;
  seenBy: string | undefined;
  /** The author's name opens their card (to message them). */
  openCard: boolean;
}

/** One committed message; it re-renders only when its own props change, so long rooms stay fast. */
class MessageRow extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const prev = this.props;
    return prev.message !== next.message || prev.room !== next.room || prev.mine !== next.mine ||
      prev.canEdit !== next.canEdit || prev.canDelete !== next.canDelete ||
      prev.editing !== next.editing || prev.deleting !== next.deleting ||
      prev.seenBy !== next.seenBy ||
      prev.openCard !== next.openCard || prev.me !== next.me || prev.grouped !== next.grouped ||
      prev.replies !== next.replies || prev.highlighted !== next.highlighted ||
      prev.mayReact !== next.mayReact || prev.mayReply !== next.mayReply;
  }

  override render() {
    const { room, message: m, mine, canEdit, canDelete, seenBy, openCard } = this.props;
    return (
      <MessageItem
        author={m.author}
        text={m.text}
        ts={m.ts}
        seq={m.seq}
        me={this.props.me}
        reactions={m.reactions}
        replyTo={m.replyTo}
        mentions={m.mentions}
        file={m.file}
        grouped={this.props.grouped}
        replies={this.props.replies}
        highlighted={this.props.highlighted}
        onReact={this.props.mayReact
          ? (emoji, remove) => react(room, m.seq, emoji, remove)
          : undefined}
        onReply={this.props.mayReply ? () => startReply(m) : undefined}
        onQuote={m.replyTo ? () => jumpTarget.value = { room, seq: m.replyTo!.seq } : undefined}
        onThread={() => threadOf.value = { room, seq: m.seq }}
        mine={mine}
        editedAt={m.editedAt}
        deleted={m.deleted}
        seenBy={seenBy}
        editing={this.props.editing}
        onEdit={canEdit ? () => editing.value = { room, seq: m.seq } : undefined}
        onSave={canEdit
          ? async (text) => {
            await editMessage(room, m.seq, text);
            stopEditing();
          }
          : undefined}
        onCancelEdit={stopEditing}
        onDelete={canDelete ? () => deleteMessage(room, m.seq) : undefined}
        onUndoDelete={this.props.deleting ? () => undoDelete(room, m.seq) : undefined}
        onAuthor={openCard ? () => userCard.value = m.author : undefined}
      />
    );
  }
}

/** Add a reaction, or take ours back; the committed entry applies at once. */
async function react(room: string, seq: number, emoji: string, remove: boolean): Promise<void> {
  const { message } = await request("react", { room, seq, emoji, ...(remove ? { remove } : {}) });
  commitEntries(room, [message]);
}

/** Reply to `message`: the composer shows what it answers and sends `replyTo`. */
function startReply(message: Message): void {
  replyingTo.value = message;
  document.querySelector<HTMLTextAreaElement>(".composer textarea")?.focus();
}

/** Leave the edit box and go back to writing. */
function stopEditing(): void {
  editing.value = null;
  document.querySelector<HTMLTextAreaElement>(".composer textarea")?.focus();
}

/** Index of the first message with seq at least `seq` (messages are sorted by seq). */
function indexFrom(messages: readonly Message[], seq: number): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (messages[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** "Seen by …" per message seq: under the newest message each other member has read. */
function seenByMessage(
  messages: readonly Message[],
  receipts: ReadonlyMap<string, Receipt>,
  me: string | undefined,
): Map<number, string> {
  const names = new Map<number, string[]>();
  for (const { user, seq } of receipts.values()) {
    if (user.id === me) continue;
    // The newest held message at or before the marker; older ones are not loaded.
    const message = messages[indexFrom(messages, seq + 1) - 1];
    if (!message) continue;
    const list = names.get(message.seq);
    if (list) list.push(user.name);
    else names.set(message.seq, [user.name]);
  }
  const text = new Map<number, string>();
  for (const [seq, list] of names) text.set(seq, seenText(list.sort()));
  return text;
}

function seenText(names: readonly string[]): string {
  if (names.length <= SEEN_NAMES) return `Seen by ${names.join(", ")}`;
  const shown = names.slice(0, SEEN_NAMES - 1).join(", ");
  return `Seen by ${shown} and ${names.length - SEEN_NAMES + 1} others`;
}

/**
 * The first message of `list` still visible below `top` (binary search: children are in
 * order). Day dividers and markers come and go as pages load, so they make poor anchors.
 */
function topChild(list: HTMLOListElement, top: number): { el: Element; top: number } | null {
  const children = list.children;
  let lo = 0;
  let hi = children.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (children[mid]!.getBoundingClientRect().bottom <= top) lo = mid + 1;
    else hi = mid;
  }
  let el = children[lo];
  while (el && !(el as HTMLElement).dataset.seq && el.nextElementSibling) {
    el = el.nextElementSibling;
  }
  return el ? { el, top: el.getBoundingClientRect().top } : null;
}
