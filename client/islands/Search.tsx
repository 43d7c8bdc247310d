import { useRef, useState } from "preact/hooks";
import type { Message } from "../../protocol/messages.ts";
import { Modal } from "../components/Modal.tsx";
import { roomLabel } from "../lib/access.ts";
import { openRoom, request } from "../lib/app.ts";
import { excerpt, hasCriteria, highlight, searchBody, searchTerms } from "../lib/search.ts";
import { currentRoom, dialog, identity, jumpTarget, roomInfo } from "../lib/state.ts";

const PAGE = 20;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * Search messages: words, this room or every room, an author by name, a date range.
 * Results are newest first, with the words marked; "More" pages on; a result opens its
 * room at that message.
 */
export function SearchDialog() {
  const here = currentRoom.value;
  const [text, setText] = useState("");
  const [scope, setScope] = useState<"here" | "all">(here ? "here" : "all");
  const [author, setAuthor] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [results, setResults] = useState<Message[] | null>(null);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [terms, setTerms] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** The form as last searched, for "More". */
  const last = useRef<ReturnType<typeof searchBody> | null>(null);
  const close = () => dialog.value = null;

  const run = async (e: Event) => {
    e.preventDefault();
    setError(null);
    let authorId: string | undefined;
    const name = author.trim().replace(/^@/, "");
    setBusy(true);
    try {
      if (name) {
        try {
          authorId = (await request("user.find", { name })).user.id;
        } catch {
          throw new Error(`Nobody is called ${name}.`);
        }
      }
      const form = { text, here: scope === "here", author: authorId, from, to };
      if (!hasCriteria(form)) throw new Error("Type some words, an author or dates.");
      const body = searchBody(form, here);
      body.limit = PAGE;
      last.current = body;
      const page = await request("search", body);
      setTerms(searchTerms(text));
      setResults(page.messages);
      setNext(page.next);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const more = async () => {
    if (!last.current || !next) return;
    setBusy(true);
    try {
      const page = await request("search", { ...last.current, cursor: next });
      setResults((held) => {
        const seen = new Set((held ?? []).map((m) => `${m.room}#${m.seq}`));
        return [...(held ?? []), ...page.messages.filter((m) => !seen.has(`${m.room}#${m.seq}`))];
      });
      setNext(page.next);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const open = (m: Message) => {
    openRoom(m.room);
    jumpTarget.value = { room: m.room, seq: m.seq };
    close();
  };

  const me = identity.value;
  return (
    <Modal title="Search messages" onClose={close} testid="search-dialog" class="modal-wide">
      <form class="modal-form search-form" role="search" onSubmit={run}>
        <label class="field">
          <span>Words</span>
          <input
            type="search"
            data-testid="search-text"
            autocomplete="off"
            maxLength={200}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
        <fieldset class="search-scope">
          <legend>Where</legend>
          <label class="check">
            <input
              type="radio"
              name="search-scope"
              data-testid="search-here"
              checked={scope === "here"}
              disabled={!here}
              onChange={() => setScope("here")}
            />
            This room
          </label>
          <label class="check">
            <input
              type="radio"
              name="search-scope"
              data-testid="search-all"
              checked={scope === "all"}
              onChange={() => setScope("all")}
            />
            All rooms
          </label>
        </fieldset>
        <div class="search-row">
          <label class="field">
            <span>Author</span>
            <input
              data-testid="search-author"
              placeholder="Name"
              autocomplete="off"
              spellcheck={false}
              value={author}
              onInput={(e) => setAuthor(e.currentTarget.value)}
            />
          </label>
          <label class="field">
            <span>From</span>
            <input
              type="date"
              data-testid="search-from"
              value={from}
              onInput={(e) => setFrom(e.currentTarget.value)}
            />
          </label>
          <label class="field">
            <span>To</span>
            <input
              type="date"
              data-testid="search-to"
              value={to}
              onInput={(e) => setTo(e.currentTarget.value)}
            />
          </label>
        </div>
        <div class="modal-actions">
          <button type="submit" data-testid="search-submit" disabled={busy}>Search</button>
        </div>
      </form>
      {error && <p class="form-error" role="alert" data-testid="search-error">{error}</p>}
      <p class="sr-only" role="status">
        {busy ? "Searching…" : results ? `${results.length} results` : ""}
      </p>
      {results && results.length === 0 && (
        <p class="muted" data-testid="search-empty">No messages found.</p>
      )}
      {results && results.length > 0 && (
        <ul class="search-results" data-testid="search-results" aria-label="Results">
          {results.map((m) => {
            const info = roomInfo(m.room);
            const label = info ? roomLabel(info, me) : m.room;
            const shown = excerpt(m.text || (m.file ? m.file.name : ""), terms);
            return (
              <li key={`${m.room}#${m.seq}`}>
                <button
                  type="button"
                  class="search-result"
                  data-testid="search-result"
                  data-room={m.room}
                  data-seq={m.seq}
                  onClick={() => open(m)}
                >
                  <span class="search-result-meta">
                    <span class="search-room">
                      {info?.kind === "dm" ? "@" : "#"}
                      {label}
                    </span>
                    <strong class="search-author">{m.author.name}</strong>
                    <time dateTime={new Date(m.ts).toISOString()}>{when.format(m.ts)}</time>
                  </span>
                  <span class="search-excerpt" data-testid="search-excerpt" dir="auto">
                    {highlight(shown, terms).map((s, i) =>
                      s.mark ? <mark key={i}>{s.text}</mark> : s.text
                    )}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {next && (
        <button
          type="button"
          class="secondary"
          data-testid="search-more"
          disabled={busy}
          onClick={more}
        >
          More
        </button>
      )}
    </Modal>
  );
}
