import { useEffect, useRef, useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import { editLastMessage, sendMessage, sendTyping } from "../lib/app.ts";
import { currentRoom } from "../lib/state.ts";

/** Show the remaining characters once fewer than this are left. */
const COUNTER_FROM = 200;

/**
 * The message box: Enter sends, Shift+Enter adds a newline, ArrowUp when empty edits our
 * last message; tells the room while we type.
 */
export function Composer() {
  const room = currentRoom.value;
  const [text, setText] = useState("");
  /** The room we last told "typing", and when; null once we said we stopped. */
  const typing = useRef<{ room: string; at: number } | null>(null);
  const remaining = LIMITS.messageChars - text.length;
  const canSend = room !== null && text.trim() !== "" && remaining >= 0;

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
        placeholder={room ? `Message #${room}` : "Pick a room first"}
        disabled={!room}
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
      {remaining < COUNTER_FROM && (
        <span class={remaining < 0 ? "counter over" : "counter"} aria-live="polite">
          {remaining}
        </span>
      )}
    </form>
  );
}
