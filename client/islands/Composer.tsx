import { useEffect, useRef, useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import { can, postBlock, roomRef } from "../lib/access.ts";
import { editLastMessage, sendMessage, sendTyping } from "../lib/app.ts";
import { currentRoom, identity, roomInfo, standingOf } from "../lib/state.ts";

/** Show the remaining characters once fewer than this are left. */
const COUNTER_FROM = 200;

/**
 * The message box: Enter sends, Shift+Enter adds a newline, ArrowUp when empty edits our
 * last message; tells the room while we type.
 */
export function Composer() {
  const room = currentRoom.value;
  const info = roomInfo(room);
  const [text, setText] = useState("");
  /** Bumped when a mute ends, to render again. */
  const [, setTick] = useState(0);
  /** The room we last told "typing", and when; null once we said we stopped. */
  const typing = useRef<{ room: string; at: number } | null>(null);
  let standing = standingOf(info);
  // Opening a room joins it: post as the member we are about to be; the outbox waits.
  if (standing?.room === null && can("room.join", standing)) {
    standing = { ...standing, room: "member" };
  }
  const blocked = info && room ? postBlock(info, standing, Date.now()) : null;
  const mutedUntil = info?.mutedUntil;
  // A mute ends by itself: enable the box again when it does.
  useEffect(() => {
    if (mutedUntil === undefined || mutedUntil <= Date.now()) return;
    const timer = setTimeout(() => setTick((n) => n + 1), mutedUntil - Date.now() + 50);
    return () => clearTimeout(timer);
  }, [mutedUntil]);
  const remaining = LIMITS.messageChars - text.length;
  const canSend = room !== null && blocked === null && text.trim() !== "" && remaining >= 0;

  const stopTyping = () => {
    if (typing.current) sendTyping(typing.current.room, false);
    typing.current = null;
  };
  // Switching rooms (or leaving the page) ends typing in the room we were in.
  useEffect(() => stopTyping, [room]);

  const onInput = (value: string) => {
    setText(value);
    if (!room) return;
    if (value.trim() === "") return stopTyping();
    const now = Date.now();
    const last = typing.current;
    if (!last || last.room !== room || now - last.at >= LIMITS.typingThrottleMs) {
      sendTyping(room, true);
      typing.current = { room, at: now };
    }
  };

  const submit = () => {
    if (!canSend) return;
    stopTyping();
    sendMessage(room, text);
    setText("");
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <textarea
        data-testid="composer"
        rows={1}
        aria-label="Message"
        placeholder={blocked
          ? "You cannot post here"
          : room
          ? `Message ${roomRef(info, room, identity.value)}`
          : "Pick a room first"}
        disabled={!room || blocked !== null}
        aria-describedby={blocked ? "composer-blocked" : undefined}
        value={text}
        onInput={(e) => onInput(e.currentTarget.value)}
        onBlur={stopTyping}
        onKeyDown={(e) => {
          // While an IME composes, Enter confirms the composition rather than sending.
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          }
          const plain = !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey;
          if (e.key === "ArrowUp" && plain && text === "" && room && editLastMessage(room)) {
            e.preventDefault();
          }
        }}
      />
      <button type="submit" class="send" data-testid="send" disabled={!canSend}>Send</button>
      {blocked && (
        <p id="composer-blocked" class="composer-blocked" data-testid="composer-blocked">
          {blocked}
        </p>
      )}
      {remaining < COUNTER_FROM && (
        <span class={remaining < 0 ? "counter over" : "counter"} aria-live="polite">
          {remaining}
        </span>
      )}
    </form>
  );
}
