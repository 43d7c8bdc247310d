import { useCallback, useLayoutEffect, useRef, useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import type { FileRef, Member, Reaction, ReplyRef } from "../../protocol/messages.ts";
import { parseMarkdown, plainText } from "../lib/markdown.ts";
import { Avatar } from "./Avatar.tsx";
import { EmojiPicker } from "./EmojiPicker.tsx";
import { FileView } from "./FileView.tsx";
import { LinkifiedText } from "./LinkifiedText.tsx";
import { Markdown } from "./Markdown.tsx";
import { Reactions } from "./Reactions.tsx";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

interface MessageItemProps {
  author: Member;
  text: string;
  ts: number;
  /** Absent while the message is pending. */
  seq?: number;
  mine: boolean;
  /** When the text was last edited. */
  editedAt?: number;
  deleted?: boolean;
  /** Set while the message is not committed: what is happening to it ("sending…"). */
  pending?: string;
  /** Why sending failed; the actions let the user retry or give up. */
  error?: string | null;
  onRetry?: () => void;
  onDiscard?: () => void;
  /** "Seen by …" under this message. */
  seenBy?: string;
  /** Shown in place of the text while editing. */
  editing?: boolean;
  /** Present when the user may edit: start editing. */
  onEdit?: () => void;
  /** Save an edit; rejects with the reason it was refused. */
  onSave?: (text: string) => Promise<void>;
  onCancelEdit?: () => void;
  /** Present when the user may delete; rejects with the reason it was refused. */
  onDelete?: () => Promise<void>;
  /** Present while a delete waits out its undo time: keep the message after all. */
  onUndoDelete?: () => void;
  /** Present when the author's name opens their card (e.g. to message them). */
  onAuthor?: () => void;
  /** The viewer: their reactions show pressed and their mentions stand out. */
  me?: Member | null;
  reactions?: readonly Reaction[] | undefined;
  replyTo?: ReplyRef | undefined;
  /** Lower-case names the message mentions ("room" for @room). */
  mentions?: readonly string[] | undefined;
  file?: FileRef | undefined;
  /** Follows a message of the same author within minutes: no avatar or name. */
  grouped?: boolean;
  /** Replies to it held in the timeline: the link to its thread. */
  replies?: number;
  /** Shown in context (a jump): highlighted for a moment. */
  highlighted?: boolean;
  /** Present when the viewer may react: add a reaction, or take theirs back. */
  onReact?: (emoji: string, remove: boolean) => Promise<void>;
  /** Present when the viewer may reply. */
  onReply?: () => void;
  /** Show the quoted original in the timeline. */
  onQuote?: () => void;
  /** Open the thread of replies. */
  onThread?: () => void;
}

/** The action of a "/me waves" message ("waves"), or null for an ordinary message. */
export function actionOf(text: string): string | null {
  return text.startsWith("/me ") && text.slice(4).trim() !== "" ? text.slice(4) : null;
}

export function MessageItem(props: MessageItemProps) {
  const { author, text, ts, seq, mine, editedAt, deleted, pending, error } = props;
  const [actionError, setActionError] = useState<string | null>(null);
  const [picking, setPicking] = useState(false);
  const date = new Date(ts);
  const action = deleted ? null : actionOf(text);
  const me = props.me ?? null;
  const myName = me?.name.toLowerCase();
  const mentioned = !deleted && !mine &&
    (props.mentions?.some((n) => n === "room" || n === myName) ?? false);
  const grouped = props.grouped && !pending && action === null;
  const cls = [
    "message",
    mine && "mine",
    action !== null && "action",
    pending && "pending",
    error && "failed",
    props.editing && "editing",
    props.onUndoDelete && "deleting",
    grouped && "grouped",
    mentioned && "mentioned",
    props.highlighted && "highlighted",
  ].filter(Boolean).join(" ");
  const remove = props.onDelete;
  const undo = props.onUndoDelete;
  const react = props.onReact;
  const live = !deleted && !pending && !props.editing;
  const actions = live && (props.onEdit || remove || undo || react || props.onReply);
  const closePicker = useCallback(() => setPicking(false), []);
  const toggle = (emoji: string, mineAlready: boolean) => {
    setActionError(null);
    react?.(emoji, mineAlready).catch((err: Error) => setActionError(err.message));
  };
  const pick = (emoji: string) => {
    setPicking(false);
    const held = props.reactions?.find((r) => r.emoji === emoji);
    toggle(emoji, held?.users.some((u) => u.id === me?.id) ?? false);
  };
  const timeEl = (
    <time dateTime={date.toISOString()} title={fullFormat.format(date)}>
      {timeFormat.format(date)}
    </time>
  );
  const edited = editedAt !== undefined && !deleted && (
    <span
      class="message-edited"
      data-testid="message-edited"
      title={`Edited ${fullFormat.format(editedAt)}`}
    >
      (edited)
    </span>
  );
  return (
    <li class={cls} data-testid={pending ? "pending" : "message"} data-seq={seq}>
      {grouped ? <span class="message-gutter">{timeEl}</span> : <Avatar user={author} />}
      <div class="message-body">
        {grouped ? <span class="sr-only">{author.name}</span> : (
          <div class="message-meta">
            {props.onAuthor
              ? (
                <button
                  type="button"
                  class="message-author name-button"
                  data-testid="message-author"
                  onClick={props.onAuthor}
                >
                  <bdi>{author.name}</bdi>
                </button>
              )
              : (
                <span class="message-author" data-testid="message-author">
                  <bdi>{author.name}</bdi>
                </span>
              )}
            {timeEl}
            {pending && !error && <span class="message-state">{pending}</span>}
            {edited}
            {undo && !deleted && <span class="message-state">deleting…</span>}
          </div>
        )}
        {actions && (
          <span class="message-actions" role="group" aria-label="Message actions">
            {undo ? <UndoButton onUndo={undo} /> : (
              <>
                {react && (
                  <button
                    type="button"
                    class="link-button"
                    data-testid="message-react"
                    aria-haspopup="dialog"
                    aria-expanded={picking}
                    onClick={() => setPicking(!picking)}
                  >
                    React
                  </button>
                )}
                {props.onReply && (
                  <button
                    type="button"
                    class="link-button"
                    data-testid="message-reply"
                    onClick={props.onReply}
                  >
                    Reply
                  </button>
                )}
                {props.onEdit && (
                  <button
                    type="button"
                    class="link-button"
                    data-testid="message-edit"
                    onClick={() => {
                      setActionError(null);
                      props.onEdit?.();
                    }}
                  >
                    Edit
                  </button>
                )}
                {remove && (
                  <button
                    type="button"
                    class="link-button danger"
                    data-testid="message-delete"
                    onClick={() => {
                      setActionError(null);
                      remove().catch((err: Error) => setActionError(err.message));
                    }}
                  >
                    Delete
                  </button>
                )}
              </>
            )}
          </span>
        )}
        {picking && react && <EmojiPicker onPick={pick} onClose={closePicker} />}
        {props.replyTo && !deleted && <ReplyQuote reply={props.replyTo} onOpen={props.onQuote} />}
        {deleted
          ? <div class="message-deleted" data-testid="message-deleted">message deleted</div>
          : props.editing && props.onSave
          ? (
            <EditBox
              text={text}
              onSave={props.onSave}
              onCancel={() => props.onCancelEdit?.()}
              onError={setActionError}
            />
          )
          : action !== null
          ? (
            // "* Ada waves": the author's name inline, as IRC shows /me.
            <div class="message-action" data-testid="message-action" dir="auto">
              {"* "}
              <bdi class="action-author">{author.name}</bdi> <LinkifiedText text={action} />
            </div>
          )
          : text !== ""
          ? (
            <div class="message-text" data-testid="message-text" dir="auto">
              <Markdown text={text} mentions={props.mentions} me={myName} />
            </div>
          )
          : null}
        {grouped && edited}
        {props.file && !deleted && <FileView file={props.file} />}
        {!deleted && (props.reactions?.length ?? 0) > 0 && (
          <Reactions
            reactions={props.reactions!}
            me={me}
            onToggle={react ? toggle : undefined}
            onAdd={react ? () => setPicking(true) : undefined}
          />
        )}
        {!deleted && (props.replies ?? 0) > 0 && props.onThread && (
          <button
            type="button"
            class="link-button thread-link"
            data-testid="thread-link"
            onClick={props.onThread}
          >
            {props.replies === 1 ? "1 reply" : `${props.replies} replies`}
          </button>
        )}
        {actionError && <div class="message-error" role="alert">{actionError}</div>}
        {error && (
          <div class="message-error" role="alert">
            <span>Not sent: {error}</span>
            <button type="button" class="link-button" onClick={props.onRetry}>Retry</button>
            <button type="button" class="link-button" onClick={props.onDiscard}>Discard</button>
          </div>
        )}
        {props.seenBy && <div class="receipts" data-testid="receipts">{props.seenBy}</div>}
      </div>
    </li>
  );
}

/** How much of the original a reply's quote shows. */
const QUOTE_CHARS = 140;

/** The start of `text` as one line of plain text, for quotes. */
export function excerpt(text: string, max = QUOTE_CHARS): string {
  const plain = plainText(parseMarkdown(text));
  return plain.length > max ? `${plain.slice(0, max - 1).trimEnd()}…` : plain;
}

/** The message a reply answers: author and excerpt; clicking shows the original. */
function ReplyQuote({ reply, onOpen }: { reply: ReplyRef; onOpen?: (() => void) | undefined }) {
  const body = (
    <>
      <span class="reply-quote-author">
        <bdi>{reply.author.name}</bdi>
      </span>
      <span class="reply-quote-text" dir="auto">{excerpt(reply.text) || "(attachment)"}</span>
    </>
  );
  return onOpen
    ? (
      <button
        type="button"
        class="reply-quote"
        data-testid="reply-quote"
        title="Show the message this replies to"
        onClick={onOpen}
      >
        {body}
      </button>
    )
    : <div class="reply-quote" data-testid="reply-quote">{body}</div>;
}

/** "Undo", in place of the Delete that was pressed; it takes the focus Delete had. */
function UndoButton({ onUndo }: { onUndo: () => void }) {
  const button = useRef<HTMLButtonElement>(null);
  useLayoutEffect(() => {
    if (document.activeElement === document.body) button.current?.focus();
  }, []);
  return (
    <button
      ref={button}
      type="button"
      class="link-button"
      data-testid="message-undo-delete"
      onClick={onUndo}
    >
      Undo
    </button>
  );
}

interface EditBoxProps {
  text: string;
  onSave: (text: string) => Promise<void>;
  onCancel: () => void;
  onError: (message: string | null) => void;
}

/** Edit in place: Enter saves, Shift+Enter adds a newline, Escape cancels. */
function EditBox({ text, onSave, onCancel, onError }: EditBoxProps) {
  const [value, setValue] = useState(text);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  // Layout effect: focus before the first paint, so keys typed at once are not reordered.
  useLayoutEffect(() => {
    const el = input.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
    el.scrollIntoView({ block: "nearest" });
  }, []);
  const save = async () => {
    if (value === text) return onCancel();
    if (value.trim() === "" || busy) return;
    setBusy(true);
    onError(null);
    try {
      await onSave(value);
    } catch (err) {
      onError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <div class="edit-box">
      <textarea
        ref={input}
        data-testid="message-edit-input"
        aria-label="Edit message"
        rows={1}
        maxLength={LIMITS.messageChars}
        value={value}
        disabled={busy}
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onCancel();
          } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            save();
          }
        }}
      />
      <div class="edit-hint">
        <span>Enter to</span>
        <button type="button" class="link-button" onClick={save}>save</button>
        <span>· Escape to</span>
        <button type="button" class="link-button" onClick={onCancel}>cancel</button>
      </div>
    </div>
  );
}

/** A moderation event among the messages: "Ada muted Bob for 10 min". */
export function SystemLine({ text, ts }: { text: string; ts: number }) {
  const date = new Date(ts);
  return (
    <li class="system-line" data-testid="system-line">
      <span>{text}</span>
      <time dateTime={date.toISOString()} title={fullFormat.format(date)}>
        {timeFormat.format(date)}
      </time>
    </li>
  );
}

/** "Today", "Yesterday" or a date, for separators between days in the timeline. */
export function DayDivider({ ts }: { ts: number }) {
  return (
    <li class="day-divider">
      <span>{dayLabel(ts)}</span>
    </li>
  );
}

export function sameDay(a: number, b: number): boolean {
  return new Date(a).toDateString() === new Date(b).toDateString();
}

function dayLabel(ts: number): string {
  const day = new Date(ts).toDateString();
  if (day === new Date().toDateString()) return "Today";
  if (day === new Date(Date.now() - 86_400_000).toDateString()) return "Yesterday";
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }).format(ts);
}
