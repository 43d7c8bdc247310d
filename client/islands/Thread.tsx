/** Thread-lite: a side panel with one message and every reply to it (`search {replyTo}`). */
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../../protocol/messages.ts";
import { MessageItem } from "../components/MessageItem.tsx";
import { request } from "../lib/app.ts";
import { identity, jumpTarget, replyingTo, roomView, threadOf } from "../lib/state.ts";

/** Pages of replies fetched at most (50 each). */
const PAGES = 10;

interface Loaded {
  key: string;
  original: Message | null;
  replies: Message[];
  error: string | null;
  loading: boolean;
}

export function Thread() {
  const thread = threadOf.value;
  const key = thread ? `${thread.room}#${thread.seq}` : "";
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (!thread) return;
    let live = true;
    setLoaded({ key, original: null, replies: [], error: null, loading: true });
    fetchThread(thread.room, thread.seq).then(
      ({ original, replies }) =>
        live && setLoaded({ key, original, replies, error: null, loading: false }),
      (err: Error) =>
        live &&
        setLoaded({ key, original: null, replies: [], error: err.message, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [key]);

  useLayoutEffect(() => {
    if (thread) heading.current?.focus({ preventScroll: true });
  }, [key]);

  if (!thread) return null;
  const me = identity.value;
  // Live: what the timeline holds is newer (reactions, edits, new replies) than the fetch.
  const held = roomView(thread.room).messages.value;
  const byseq = new Map<number, Message>();
  const state = loaded?.key === key ? loaded : null;
  for (const m of state?.replies ?? []) byseq.set(m.seq, m);
  for (const m of held) if (m.replyTo?.seq === thread.seq) byseq.set(m.seq, m);
  const replies = [...byseq.values()].sort((a, b) => a.seq - b.seq);
  const original = held.find((m) => m.seq === thread.seq) ?? state?.original ?? null;
  const close = () => threadOf.value = null;

  return (
    <aside
      class="thread-panel"
      data-testid="thread-panel"
      aria-labelledby="thread-title"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !e.defaultPrevented) {
          e.preventDefault();
          close();
        }
      }}
    >
      <div class="thread-head">
        <h2 id="thread-title" ref={heading} tabIndex={-1}>Thread</h2>
        <button
          type="button"
          class="thread-close"
          data-testid="thread-close"
          aria-label="Close thread"
          onClick={close}
        >
          ×
        </button>
      </div>
      <ol class="messages thread-messages" tabIndex={0} aria-label="The message and its replies">
        {original && (
          <MessageItem
            author={original.author}
            text={original.text}
            ts={original.ts}
            seq={original.seq}
            me={me}
            mine={original.author.id === me?.id}
            editedAt={original.editedAt}
            deleted={original.deleted}
            reactions={original.reactions}
            mentions={original.mentions}
            file={original.file}
          />
        )}
        {state?.loading && <li class="thread-note">Loading replies…</li>}
        {state?.error && <li class="thread-note" role="alert">{state.error}</li>}
        {!state?.loading && replies.length === 0 && !state?.error && (
          <li class="thread-note">No replies yet.</li>
        )}
        {replies.map((m, i) => (
          <MessageItem
            key={m.seq}
            author={m.author}
            text={m.text}
            ts={m.ts}
            seq={m.seq}
            me={me}
            mine={m.author.id === me?.id}
            editedAt={m.editedAt}
            deleted={m.deleted}
            reactions={m.reactions}
            mentions={m.mentions}
            file={m.file}
            grouped={i > 0 && replies[i - 1]!.author.id === m.author.id}
          />
        ))}
      </ol>
      <div class="thread-foot">
        {original && !original.deleted && (
          <button
            type="button"
            data-testid="thread-reply"
            onClick={() => {
              replyingTo.value = original;
              document.querySelector<HTMLTextAreaElement>(".composer textarea")?.focus();
            }}
          >
            Reply
          </button>
        )}
        <button
          type="button"
          class="link-button"
          data-testid="thread-show"
          onClick={() => jumpTarget.value = { room: thread.room, seq: thread.seq }}
        >
          Show in timeline
        </button>
      </div>
    </aside>
  );
}

/** The original (from history when the timeline does not hold it) and its replies, oldest first. */
async function fetchThread(
  room: string,
  seq: number,
): Promise<{ original: Message | null; replies: Message[] }> {
  const held = roomView(room).messages.value.find((m) => m.seq === seq);
  const originalP = held
    ? Promise.resolve(held)
    : request("history", { room, after: seq - 1, limit: 1 }).then((page) =>
      page.messages.find((m) => m.seq === seq && m.kind === "text") ?? null
    );
  const replies: Message[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < PAGES; page++) {
    const result = await request("search", {
      room,
      replyTo: seq,
      ...(cursor ? { cursor } : {}),
    });
    replies.push(...result.messages);
    cursor = result.next;
    if (!cursor) break;
  }
  return { original: await originalP, replies: replies.sort((a, b) => a.seq - b.seq) };
}
