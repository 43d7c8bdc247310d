import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import type { Member } from "../../protocol/messages.ts";
import { Avatar } from "./Avatar.tsx";
import { LinkifiedText } from "./LinkifiedText.tsx";

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
}

/** The action of a "/me waves" message ("waves"), or null for an ordinary message. */
export function actionOf(text: string): string | null {
  return text.startsWith("/me ") && text.slice(4).trim() !== "" ? text.slice(4) : null;
}

export function MessageItem(props: MessageItemProps) {
  const { author, text, ts, seq, mine, editedAt, deleted, pending, error } = props;
  const [actionError, setActionError] = useState<string | null>(null);
  const date = new Date(ts);
  const action = deleted ? null : actionOf(text);
  const cls = [
    "message",
    mine && "mine",
    action !== null && "action",
    pending && "pending",
    error && "failed",
    props.editing && "editing",
    props.onUndoDelete && "deleting",
  ].filter(Boolean).join(" ");
  const remove = props.onDelete;
  const undo = props.onUndoDelete;
  const actions = !deleted && !pending && !props.editing && (props.onEdit || remove || undo);
  return (
    <li class={cls} data-testid={pending ? "pending" : "message"} data-seq={seq}>
      <Avatar user={author} />
      <div class="message-body">
        <div class="message-meta">
          {props.onAuthor
            ? (
              <button
                type="button"
                class="message-author name-button"
                data-testid="message-author"
                onClick={props.onAuthor}
              >
                {author.name}
              </button>
            )
            : <span class="message-author" data-testid="message-author">{author.name}</span>}
          <time dateTime={date.toISOString()} title={fullFormat.format(date)}>
            {timeFormat.format(date)}
          </time>
          {pending && !error && <span class="message-state">{pending}</span>}
          {editedAt !== undefined && !deleted && (
            <span
              class="message-edited"
              data-testid="message-edited"
              title={`Edited ${fullFormat.format(editedAt)}`}
            >
              (edited)
            </span>
          )}
          {undo && !deleted && <span class="message-state">deleting…</span>}
          {actions && undo && (
            <span class="message-actions">
              <UndoButton onUndo={undo} />
            </span>
          )}
          {actions && !undo && (
            <span class="message-actions">
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
            </span>
          )}
        </div>
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
            <div class="message-action" data-testid="message-action">
              {"* "}
              <span class="action-author">{author.name}</span> <LinkifiedText text={action} />
            </div>
          )
          : (
            <div class="message-text" data-testid="message-text">
              <LinkifiedText text={text} />
            </div>
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
