import { Fragment } from "preact";
import { useEffect, useLayoutEffect, useRef } from "preact/hooks";
import { DayDivider, MessageItem, sameDay } from "../components/MessageItem.tsx";
import { discardMessage, loadEarlier, retryMessage } from "../lib/app.ts";
import { connection, currentRoom, identity, roomView } from "../lib/state.ts";

/** How close to the bottom (px) still counts as "at the bottom" for auto-scroll. */
const STICK_PX = 48;

interface Snapshot {
  room: string | null;
  firstSeq: number | undefined;
  pending: number;
  height: number;
}

/** Messages of the current room, oldest first, with "load earlier" at the top. */
export function Timeline() {
  const room = currentRoom.value;
  const me = identity.value;
  const view = room ? roomView(room) : null;
  const messages = view?.messages.value ?? [];
  const pending = view?.pending.value ?? [];
  const online = connection.value.state === "connected";
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const last = useRef<Snapshot>({ room: null, firstSeq: undefined, pending: 0, height: 0 });

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const prev = last.current;
    const firstSeq = messages[0]?.seq;
    const prepended = prev.room === room && firstSeq !== undefined &&
      prev.firstSeq !== undefined && firstSeq < prev.firstSeq;
    if (prev.room !== room || pending.length > prev.pending) atBottom.current = true;
    if (atBottom.current) el.scrollTop = el.scrollHeight;
    // Older messages were added above: keep what the reader was looking at in place.
    else if (prepended) el.scrollTop += el.scrollHeight - prev.height;
    last.current = { room, firstSeq, pending: pending.length, height: el.scrollHeight };
  });

  // Stay pinned to the bottom when the viewport shrinks (composer grows, keyboard opens).
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const onScroll = () => {
    const el = scroller.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
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
              <p class="timeline-start">This is the beginning of #{room}.</p>
            )}
          {view.error.value && <p class="timeline-error" role="alert">{view.error.value}</p>}
          {view.joined.value === "joining" && messages.length === 0 && (
            <p class="timeline-empty">Loading…</p>
          )}
          {view.joined.value === "yes" && messages.length === 0 && pending.length === 0 && (
            <p class="timeline-empty">No messages yet. Say hi!</p>
          )}
          <ol class="messages" aria-live="polite" aria-label={`Messages in #${room}`}>
            {messages.map((m, i) => {
              const prev = messages[i - 1];
              return (
                <Fragment key={m.seq}>
                  {(!prev || !sameDay(prev.ts, m.ts)) && <DayDivider ts={m.ts} />}
                  <MessageItem
                    author={m.author}
                    text={m.text}
                    ts={m.ts}
                    seq={m.seq}
                    mine={m.author.id === me?.id}
                  />
                </Fragment>
              );
            })}
            {me && pending.map((p) => (
              <MessageItem
                key={p.nonce}
                author={me}
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
        </>
      )}
    </div>
  );
}
