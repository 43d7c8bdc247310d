import { useEffect, useRef, useState } from "preact/hooks";
import type { RoomInfo } from "../../protocol/messages.ts";
import { Modal } from "../components/Modal.tsx";
import { openRoom, request } from "../lib/app.ts";
import { mergeRooms } from "../lib/directory.ts";
import { dialog, peekRoomView } from "../lib/state.ts";

const PAGE = 20;

/** "Browse rooms": search the public and announcement rooms, page through them, join one. */
export function DirectoryDialog() {
  const [query, setQuery] = useState("");
  const [list, setList] = useState<RoomInfo[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** Answers to an older query are dropped. */
  const asked = useRef(0);
  const close = () => dialog.value = null;

  const load = async (q: string, cursor?: string) => {
    const ticket = ++asked.current;
    setLoading(true);
    setError(null);
    try {
      const page = await request("room.directory", {
        limit: PAGE,
        ...(q.trim() ? { query: q.trim() } : {}),
        ...(cursor ? { cursor } : {}),
      });
      if (ticket !== asked.current) return;
      setList((held) => cursor ? mergeRooms(held, page.rooms) : page.rooms);
      setNext(page.next);
      setLoaded(true);
    } catch (err) {
      if (ticket === asked.current) setError((err as Error).message);
    } finally {
      if (ticket === asked.current) setLoading(false);
    }
  };

  // Search as the user types, a moment after they pause.
  useEffect(() => {
    const timer = setTimeout(() => load(query), query ? 250 : 0);
    return () => clearTimeout(timer);
  }, [query]);

  const join = (room: string) => {
    openRoom(room);
    close();
  };

  return (
    <Modal title="Browse rooms" onClose={close} testid="directory-dialog" class="modal-wide">
      <form class="modal-form" role="search" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          <span>Find a room</span>
          <input
            type="search"
            data-testid="directory-query"
            placeholder="Name, title or topic"
            autocomplete="off"
            value={query}
            onInput={(e) => setQuery(e.currentTarget.value)}
          />
        </label>
      </form>
      {error && <p class="form-error" role="alert" data-testid="directory-error">{error}</p>}
      <p class="sr-only" role="status">
        {loading ? "Loading rooms…" : loaded ? `${list.length} rooms listed` : ""}
      </p>
      <ul class="pick-list directory-list" data-testid="directory-list" aria-busy={loading}>
        {list.map((room) => {
          const joined = room.member || peekRoomView(room.name)?.joined.value === "yes";
          return (
            <li key={room.name} class="pick-row" data-testid="directory-room" data-room={room.name}>
              <div class="pick-main">
                <strong class="pick-title">
                  #{room.title || room.name}
                  {room.title && <span class="muted pick-sub">{room.name}</span>}
                </strong>
                {room.topic && (
                  <span class="pick-topic" data-testid="directory-topic">{room.topic}</span>
                )}
                <span class="muted pick-meta" data-testid="directory-members">
                  {room.members ?? 0} {room.members === 1 ? "member" : "members"}
                  {room.kind === "announcement" ? " · announcements" : ""}
                </span>
              </div>
              <button
                type="button"
                class={joined ? "secondary small" : "small"}
                data-testid="directory-join"
                aria-label={`${joined ? "Open" : "Join"} #${room.title || room.name}`}
                onClick={() =>
                  join(room.name)}
              >
                {joined ? "Open" : "Join"}
              </button>
            </li>
          );
        })}
      </ul>
      {loaded && list.length === 0 && !loading && (
        <p class="muted" data-testid="directory-empty">
          {query ? "No public room matches." : "No public rooms yet."}
        </p>
      )}
      {next && (
        <button
          type="button"
          class="secondary"
          data-testid="directory-more"
          disabled={loading}
          onClick={() => load(query, next)}
        >
          More
        </button>
      )}
    </Modal>
  );
}
