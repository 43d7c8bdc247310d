import { useEffect, useRef, useState } from "preact/hooks";
import type { CommandInfo, FileRef, Member } from "../../protocol/messages.ts";
import { LIMITS } from "../../protocol/limits.ts";
import { can, postBlock, roomRef } from "../lib/access.ts";
import { editLastMessage, fetchMembers, runCommand, sendMessage, sendTyping } from "../lib/app.ts";
import {
  completion,
  matchCommands,
  parseSubmission,
  takesArgs,
  typedName,
} from "../lib/commands.ts";
import {
  cachedMembers,
  matchMentions,
  replaceToken,
  type Token,
  tokenAt,
} from "../lib/composer_mentions.ts";
import { excerpt } from "../components/MessageItem.tsx";
import { searchShortcodes } from "../lib/emoji.ts";
import { uploadFile } from "../lib/upload.ts";
import {
  commands,
  currentRoom,
  editing,
  identity,
  peekRoomView,
  replyingTo,
  roomInfo,
  serverRole,
  standingOf,
} from "../lib/state.ts";

/** How much of the message being answered the reply bar shows. */
const REPLY_BAR_CHARS = 80;

/** Show the remaining characters once fewer than this are left. */
const COUNTER_FROM = 200;
const LIST_ID = "command-list";
const SUGGEST_ID = "composer-suggestions";
/** Images up to this size get a preview beside their progress. */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

/** A file on its way to the room, or there and waiting to be sent. */
interface Attachment {
  key: number;
  room: string;
  name: string;
  size: number;
  /** 0..1 while uploading; 1 once uploaded. */
  progress: number;
  ref?: FileRef;
  error?: string;
  /** A data: URL of the image, for the preview (the CSP allows no blob: images). */
  preview?: string;
  controller: AbortController;
}

/** One entry of the `@` or `:` completion list. */
interface Suggestion {
  id: string;
  label: string;
  insert: string;
  hint?: string;
}

let attachmentKey = 0;

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
  const form = useRef<HTMLFormElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  /** The caret, for completing the word it is at. */
  const [caret, setCaret] = useState(0);
  const [suggestActive, setSuggestActive] = useState(0);
  /** Escape closed the completion list for the token starting here. */
  const [suggestClosedAt, setSuggestClosedAt] = useState<number | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [emoji, setEmoji] = useState<{ query: string; list: Suggestion[] }>({
    query: "",
    list: [],
  });
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [dragging, setDragging] = useState(false);
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

  const reply = replyingTo.value;
  const replyHere = reply && reply.room === room ? reply : null;
  // Reply picked from a message: type the answer at once.
  useEffect(() => {
    if (replyHere) input.current?.focus();
  }, [replyHere?.room, replyHere?.seq]);

  // Completion: the word at the caret, after "@" (members) or ":" (emoji).
  const token: Token | null = blockedToken(text, caret, suggestClosedAt);
  const tokenKind = token?.kind ?? null;
  useEffect(() => {
    if (tokenKind !== "@" || !room) return;
    let live = true;
    const present = peekRoomView(room)?.presence.value ?? [];
    setMembers(present);
    cachedMembers(room, async (r) => (await fetchMembers(r)).members.map((m) => m.user))
      .then((list) => live && setMembers([...list, ...present]))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [tokenKind, room]);
  const emojiQuery = token?.kind === ":" ? token.query : null;
  useEffect(() => {
    if (emojiQuery === null) return;
    let live = true;
    searchShortcodes(emojiQuery, 8).then((found) => {
      if (!live) return;
      setEmoji({
        query: emojiQuery,
        list: found.map((f) => ({
          id: `emoji-${f.shortcode}`,
          label: `:${f.shortcode}:`,
          insert: f.emoji,
          hint: f.emoji,
        })),
      });
    });
    return () => {
      live = false;
    };
  }, [emojiQuery]);

  // Dropping files anywhere over the timeline or the composer attaches them.
  useEffect(() => {
    const area = form.current?.closest("main") ?? form.current;
    if (!area) return;
    const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes("Files");
    const over = (e: DragEvent) => {
      if (!hasFiles(e) || !mayAttachRef.current) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (!area.contains(e.relatedTarget as Node | null)) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      setDragging(false);
      if (!hasFiles(e) || !mayAttachRef.current) return;
      e.preventDefault();
      attachRef.current([...(e.dataTransfer?.files ?? [])]);
    };
    area.addEventListener("dragover", over as EventListener);
    area.addEventListener("dragleave", leave as EventListener);
    area.addEventListener("drop", drop as EventListener);
    return () => {
      area.removeEventListener("dragover", over as EventListener);
      area.removeEventListener("dragleave", leave as EventListener);
      area.removeEventListener("drop", drop as EventListener);
    };
  }, []);

  const known = commands.value;
  const prefix = typedName(text);
  const matches = prefix === null || !room ? [] : matchCommands(known, prefix);
  const listOpen = matches.length > 0 && !dismissed && blocked === null;
  const activeIndex = Math.min(active, matches.length - 1);
  const remaining = LIMITS.messageChars - text.length;
  const here = attachments.filter((a) => a.room === room);
  const ready = here.filter((a) => a.ref);
  const uploading = here.some((a) => !a.ref && !a.error);
  const canSend = room !== null && blocked === null &&
    (text.trim() !== "" || ready.length > 0) && remaining >= 0 && !running && !uploading;
  const mayAttach = room !== null && blocked === null;
  const mayAttachRef = useRef(mayAttach);
  mayAttachRef.current = mayAttach;

  const moderator = info?.role === "owner" || info?.role === "moderator" ||
    serverRole.value === "admin";
  const suggestions: Suggestion[] = !token || blocked !== null
    ? []
    : token.kind === "@"
    ? matchMentions(members, token.query, { self: identity.value?.id, room: moderator }).map(
      (o) => ({ id: `mention-${o.name}`, label: `@${o.name}`, insert: `@${o.name}`, hint: o.hint }),
    )
    : emoji.query === token.query
    ? emoji.list
    : [];
  const suggestOpen = suggestions.length > 0 && !listOpen;
  const suggestIndex = Math.min(suggestActive, suggestions.length - 1);

  const stopTyping = () => {
    if (typing.current) sendTyping(typing.current.room, false);
    typing.current = null;
  };
  // Switching rooms (or leaving the page) ends typing in the room we were in.
  useEffect(() => stopTyping, [room]);

  const onInput = (value: string, at: number) => {
    setText(value);
    setCaret(at);
    setSuggestClosedAt(null);
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
    const replyTo = replyHere ? { replyTo: replyHere.seq } : {};
    if (ready.length > 0) {
      // The text goes with the first file as its caption.
      ready.forEach((a, i) =>
        sendMessage(room, i === 0 ? text.trim() : "", { ...replyTo, file: a.ref! })
      );
      setAttachments((all) => all.filter((a) => !ready.includes(a)));
    } else {
      if (wanted.text.trim() === "") return;
      sendMessage(room, wanted.text, replyTo);
    }
    if (replyHere) replyingTo.value = null;
    setText("");
    setCaret(0);
  };

  /** Put the picked completion in place of the word at the caret. */
  const complete = (s: Suggestion) => {
    if (!token) return;
    const next = replaceToken(text, token, s.insert);
    setText(next.text);
    setCaret(next.caret);
    setSuggestActive(0);
    const el = input.current;
    if (el) {
      el.value = next.text;
      el.focus();
      el.setSelectionRange(next.caret, next.caret);
    }
  };

  /** Upload `files` to the room; each shows its progress until it is sent or cancelled. */
  const attach = (files: File[]) => {
    if (!room || files.length === 0) return;
    for (const file of files) {
      const item: Attachment = {
        key: ++attachmentKey,
        room,
        name: file.name || "pasted file",
        size: file.size,
        progress: 0,
        controller: new AbortController(),
      };
      const update = (patch: Partial<Attachment>) =>
        setAttachments((all) => all.map((a) => a.key === item.key ? { ...a, ...patch } : a));
      setAttachments((all) => [...all, item]);
      if (file.type.startsWith("image/") && file.size <= PREVIEW_MAX_BYTES) {
        const reader = new FileReader();
        reader.onload = () => {
          if (typeof reader.result === "string") update({ preview: reader.result });
        };
        reader.readAsDataURL(file);
      }
      uploadFile(room, file, (progress) => update({ progress }), item.controller.signal)
        .then((ref) => update({ ref, progress: 1 }))
        .catch((err: Error) => {
          if (err.name === "AbortError") return;
          const code = (err as { code?: string }).code;
          update({ error: code ? `${err.message} (${code})` : err.message });
        });
    }
    input.current?.focus();
  };
  const attachRef = useRef(attach);
  attachRef.current = attach;

  const removeAttachment = (item: Attachment) => {
    item.controller.abort();
    setAttachments((all) => all.filter((a) => a.key !== item.key));
    input.current?.focus();
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
    if (suggestOpen) {
      const count = suggestions.length;
      if (e.key === "ArrowDown" && plain) {
        e.preventDefault();
        setSuggestActive((suggestIndex + 1) % count);
        return;
      }
      if (e.key === "ArrowUp" && plain) {
        e.preventDefault();
        setSuggestActive((suggestIndex - 1 + count) % count);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setSuggestClosedAt(token!.start);
        return;
      }
      if ((e.key === "Tab" || e.key === "Enter") && plain && !e.isComposing) {
        e.preventDefault();
        complete(suggestions[suggestIndex]!);
        return;
      }
    }
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
    if (e.key === "Escape" && !listOpen) {
      if (replyHere) {
        e.preventDefault();
        replyingTo.value = null;
      } else if (editing.value) {
        e.preventDefault();
        editing.value = null;
      }
    }
  };

  const activeId = listOpen
    ? `command-${matches[activeIndex]!.name}`
    : suggestOpen
    ? suggestions[suggestIndex]!.id
    : undefined;
  const hasError = commandError !== null && !blocked;
  return (
    <form
      ref={form}
      class={dragging ? "composer dragging" : "composer"}
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {replyHere && (
        <div class="reply-bar" data-testid="reply-bar">
          <span class="reply-bar-text">
            Replying to <strong>{replyHere.author.name}</strong>
            {": "}
            <span class="reply-bar-excerpt" dir="auto">
              {excerpt(replyHere.text || replyHere.file?.name || "", REPLY_BAR_CHARS)}
            </span>
          </span>
          <button
            type="button"
            class="icon-button reply-cancel"
            aria-label="Cancel reply"
            title="Cancel reply (Esc)"
            data-testid="reply-cancel"
            onClick={() => {
              replyingTo.value = null;
              input.current?.focus();
            }}
          >
            <span aria-hidden="true">✕</span>
          </button>
        </div>
      )}
      {here.length > 0 && (
        <ul class="attachments" aria-label="Attachments" data-testid="attachments">
          {here.map((a) => (
            <li
              key={a.key}
              class={a.error ? "attachment failed" : "attachment"}
              data-testid="attachment"
              data-state={a.error ? "error" : a.ref ? "ready" : "uploading"}
            >
              {a.preview && <img class="attachment-preview" src={a.preview} alt="" />}
              <span class="attachment-body">
                <span class="attachment-name">{a.name}</span>
                {a.error
                  ? (
                    <span class="attachment-error" role="alert" data-testid="attachment-error">
                      {a.error}
                    </span>
                  )
                  : (
                    <span
                      class="upload-progress"
                      role="progressbar"
                      aria-label={`Uploading ${a.name}`}
                      aria-valuemin={0}
                      aria-valuemax={100}
                      aria-valuenow={Math.round(a.progress * 100)}
                      data-testid="upload-progress"
                    >
                      <span class="upload-progress-bar" style={{ width: `${a.progress * 100}%` }} />
                    </span>
                  )}
              </span>
              <button
                type="button"
                class="icon-button attachment-remove"
                aria-label={a.ref || a.error ? `Remove ${a.name}` : `Cancel upload of ${a.name}`}
                data-testid="attachment-remove"
                onClick={() => removeAttachment(a)}
              >
                <span aria-hidden="true">✕</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {dragging && <p class="drop-hint" aria-hidden="true">Drop files to attach them</p>}
      {suggestOpen && (
        <ul
          id={SUGGEST_ID}
          class="command-list suggest-list"
          role="listbox"
          aria-label={token?.kind === "@" ? "People" : "Emoji"}
          data-testid="suggest-list"
        >
          {suggestions.map((s, i) => (
            <li
              key={s.id}
              id={s.id}
              role="option"
              aria-selected={i === suggestIndex}
              class={i === suggestIndex ? "command-item active" : "command-item"}
              data-testid="suggest-item"
              data-insert={s.insert}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => complete(s)}
            >
              <span class="command-usage">{s.label}</span>
              {s.hint && <span class="command-description">{s.hint}</span>}
            </li>
          ))}
        </ul>
      )}
      <input
        ref={fileInput}
        type="file"
        multiple
        class="sr-only"
        tabIndex={-1}
        aria-hidden="true"
        data-testid="file-input"
        onChange={(e) => {
          attach([...(e.currentTarget.files ?? [])]);
          e.currentTarget.value = "";
        }}
      />
      <button
        type="button"
        class="attach"
        aria-label="Attach files"
        title="Attach files"
        data-testid="attach"
        disabled={!mayAttach}
        onClick={() => fileInput.current?.click()}
      >
        <ClipIcon />
      </button>
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
        aria-autocomplete="list"
        aria-controls={listOpen ? LIST_ID : suggestOpen ? SUGGEST_ID : undefined}
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
        onInput={(e) => onInput(e.currentTarget.value, e.currentTarget.selectionStart ?? 0)}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
        onBlur={stopTyping}
        onKeyDown={onKeyDown}
        onPaste={(e) => {
          const files = [...(e.clipboardData?.files ?? [])];
          if (files.length === 0 || !mayAttach) return;
          e.preventDefault();
          attach(files);
        }}
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

/** The completion token at the caret, unless Escape closed the list for it. */
function blockedToken(text: string, caret: number, closedAt: number | null): Token | null {
  const token = tokenAt(text, Math.min(caret, text.length));
  return token && token.start === closedAt ? null : token;
}

function ClipIcon() {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden="true">
      <path d="M20 11.5 12.2 19.3a5 5 0 0 1-7.1-7.1l8-8a3.4 3.4 0 0 1 4.8 4.8l-8 8a1.7 1.7 0 0 1-2.4-2.4l7.3-7.3" />
    </svg>
  );
}
