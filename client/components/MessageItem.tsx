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
  /** Set while the message is not committed: what is happening to it ("sending…"). */
  pending?: string;
  /** Why sending failed; the actions let the user retry or give up. */
  error?: string | null;
  onRetry?: () => void;
  onDiscard?: () => void;
}

export function MessageItem(props: MessageItemProps) {
  const { author, text, ts, seq, mine, pending, error } = props;
  const date = new Date(ts);
  const cls = ["message", mine && "mine", pending && "pending", error && "failed"]
    .filter(Boolean).join(" ");
  return (
    <li class={cls} data-testid="message" data-seq={seq}>
      <Avatar user={author} />
      <div class="message-body">
        <div class="message-meta">
          <span class="message-author" data-testid="message-author">{author.name}</span>
          <time dateTime={date.toISOString()} title={fullFormat.format(date)}>
            {timeFormat.format(date)}
          </time>
          {pending && !error && <span class="message-state">{pending}</span>}
        </div>
        <div class="message-text" data-testid="message-text">
          <LinkifiedText text={text} />
        </div>
        {error && (
          <div class="message-error" role="alert">
            <span>Not sent: {error}</span>
            <button type="button" class="link-button" onClick={props.onRetry}>Retry</button>
            <button type="button" class="link-button" onClick={props.onDiscard}>Discard</button>
          </div>
        )}
      </div>
    </li>
  );
}

/** "Today", "Yesterday" or a date, for separators between days in the timeline. */
export function DayDivider({ ts }: { ts: number }) {
  return (
    <li class="day-divider" role="separator">
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
