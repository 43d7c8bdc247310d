import { useEffect, useRef, useState } from "preact/hooks";
import type { CommandInfo } from "../../protocol/messages.ts";
import { LIMITS } from "../../protocol/limits.ts";
import { can, postBlock, roomRef } from "../lib/access.ts";
import { editLastMessage, runCommand, sendMessage, sendTyping } from "../lib/app.ts";
import {
  completion,
  matchCommands,
  parseSubmission,
  takesArgs,
  typedName,
} from "../lib/commands.ts";
import { commands, currentRoom, identity, roomInfo, standingOf } from "../lib/state.ts";

/** Show the remaining characters once fewer than this are left. */
const COUNTER_FROM = 200;
const LIST_ID = "command-list";

/**
 * The message box: Enter sends, Shift+Enter adds a newline, ArrowUp when empty edits our
 * last message; tells the room while we type. Text starting with "/" is a slash command:
 * a list completes the name, and Enter runs it instead of posting.
 */
export function Composer() {
  const room = currentRoom.value;
  const info = roomInfo(room);
  const [text, setText] = useState("");
  /** Bumped when a mute ends, to render again. */
  const [, setTick] = useState(0);
  /** The highlighted entry of the command list. */
  const [active, setActive] = useState(0);
  /** Escape closed the command list; typing opens it again. */
  const [dismissed, setDismissed] = useState(false);
  /** A command is on its way; its text stays until it succeeds. */
  const [running, setRunning] = useState(false);
  const [commandError, setCommandError] = useState<string | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
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
  // An error is about the room it was typed in.
  useEffect(() => setCommandError(null), [room]);

  const known = commands.value;
  const prefix = typedName(text);
  const matches = prefix === null || !room ? [] : matchCommands(known, prefix);
  const listOpen = matches.length > 0 && !dismissed && blocked === null;
  const activeIndex = Math.min(active, matches.length - 1);
  const remaining = LIMITS.messageChars - text.length;
  const canSend = room !== null && blocked === null && text.trim() !== "" && remaining >= 0 &&
    !running;

  const stopTyping = () => {
    if (typing.current) sendTyping(typing.current.room, false);
    typing.current = null;
  };
  // Switching rooms (or leaving the page) ends typing in the room we were in.
  useEffect(() => stopTyping, [room]);

  const onInput = (value: string) => {
    setText(value);
    setDismissed(false);
    setCommandError(null);
    if (typedName(value) !== typedName(text)) setActive(0);
    if (!room) return;
    // A command is not something the room should watch being typed.
    if (value.trim() === "" || (value.startsWith("/") && !value.startsWith("//"))) {
      return stopTyping();
    }
    const now = Date.now();
    const last = typing.current;
    if (!last || last.room !== room || now - last.at >= LIMITS.typingThrottleMs) {
      sendTyping(room, true);
      typing.current = { room, at: now };
    }
  };

  const run = async (name: string, args: string) => {
    if (!room) return;
    setRunning(true);
    setCommandError(null);
    try {
      await runCommand(room, name, args);
      setText("");
    } catch (err) {
      setCommandError((err as Error).message);
    } finally {
      setRunning(false);
    }
  };

  const submit = () => {
    if (!canSend) return;
    stopTyping();
    const wanted = parseSubmission(text, known.length > 0);
    if (wanted.kind === "invalid") {
      setCommandError(`No command /${wanted.name}; try /help.`);
      return;
    }
    if (wanted.kind === "command") {
      run(wanted.name, wanted.args);
      return;
    }
    if (wanted.text.trim() === "") return;
    sendMessage(room, wanted.text);
    setText("");
  };

  /** Put `command`'s name in the box; one that takes no arguments runs at once with `enter`. */
  const pick = (command: CommandInfo, enter: boolean) => {
    setActive(0);
    setCommandError(null);
    if (enter && !takesArgs(command)) {
      setText(`/${command.name}`);
      run(command.name, "");
      return;
    }
    setText(completion(command));
    input.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const plain = !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey;
    if (listOpen) {
      const count = matches.length;
      if (e.key === "ArrowDown" && plain) {
        e.preventDefault();
        setActive((activeIndex + 1) % count);
        return;
      }
      if (e.key === "ArrowUp" && plain) {
        e.preventDefault();
        setActive((activeIndex - 1 + count) % count);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setDismissed(true);
        return;
      }
      if ((e.key === "Tab" || e.key === "Enter") && plain && !e.isComposing) {
        e.preventDefault();
        if (running) return;
        pick(matches[activeIndex]!, e.key === "Enter");
        return;
      }
    }
    // While an IME composes, Enter confirms the composition rather than sending.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
    if (e.key === "ArrowUp" && plain && text === "" && room && editLastMessage(room)) {
      e.preventDefault();
    }
  };

  const activeId = listOpen ? `command-${matches[activeIndex]!.name}` : undefined;
  const hasError = commandError !== null && !blocked;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {listOpen && (
        <ul
          id={LIST_ID}
          class="command-list"
          role="listbox"
          aria-label="Commands"
          data-testid="command-list"
        >
          {matches.map((c, i) => (
            <li
              key={c.name}
              id={`command-${c.name}`}
              role="option"
              aria-selected={i === activeIndex}
              class={i === activeIndex ? "command-item active" : "command-item"}
              data-testid="command-item"
              data-name={c.name}
              // Keep the focus in the box: a click picks, it does not blur.
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => pick(c, false)}
            >
              <span class="command-usage">{c.usage}</span>
              <span class="command-description">{c.description}</span>
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={input}
        data-testid="composer"
        rows={1}
        aria-label="Message"
        aria-autocomplete={known.length > 0 ? "list" : undefined}
        aria-controls={listOpen ? LIST_ID : undefined}
        aria-activedescendant={activeId}
        placeholder={blocked
          ? "You cannot post here"
          : room
          ? `Message ${roomRef(info, room, identity.value)}${
            known.length > 0 ? " — / for commands" : ""
          }`
          : "Pick a room first"}
        disabled={!room || blocked !== null}
        // Read-only, not disabled, while a command runs: the focus (and a phone's keyboard) stays.
        readOnly={running}
        aria-describedby={blocked
          ? "composer-blocked"
          : hasError
          ? "composer-command-error"
          : undefined}
        value={text}
        onInput={(e) => onInput(e.currentTarget.value)}
        onBlur={stopTyping}
        onKeyDown={onKeyDown}
      />
      <button type="submit" class="send" data-testid="send" disabled={!canSend}>Send</button>
      {blocked && (
        <p id="composer-blocked" class="composer-blocked" data-testid="composer-blocked">
          {blocked}
        </p>
      )}
      {hasError && (
        <p
          id="composer-command-error"
          class="composer-error"
          role="alert"
          data-testid="command-error"
        >
          {commandError}
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
