import { useState } from "preact/hooks";
import type { RoomInfo } from "../../protocol/messages.ts";
import { ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import { createRoom, openRoom } from "../lib/app.ts";
import { currentRoom, panel, peekRoomView, rooms } from "../lib/state.ts";

const ROOM_HINT = "Lowercase letters, digits, - and _ (up to 32).";

/** The rooms with online and unread counts; a drawer on narrow screens. */
export function RoomList(props: { rooms: RoomInfo[] }) {
  // Until the socket lists rooms, show the ones the server rendered the page with.
  const list = rooms.value ?? props.rooms;
  const current = currentRoom.value;
  const open = panel.value === "rooms";
  return (
    <>
      <nav class={open ? "rooms-panel open" : "rooms-panel"} aria-label="Rooms">
        <h2 class="panel-title">Rooms</h2>
        {list.length === 0 && <p class="muted">No rooms yet. Create the first one.</p>}
        <ul class="room-list">
          {list.map((room) => <RoomItem key={room.name} room={room} current={current} />)}
        </ul>
        <CreateRoomForm />
      </nav>
      {open && <button type="button" class="backdrop" aria-label="Close rooms" onClick={close} />}
    </>
  );
}

function RoomItem({ room, current }: { room: RoomInfo; current: string | null }) {
  const view = peekRoomView(room.name);
  const online = view?.joined.value === "yes" ? view.presence.value.length : room.online;
  const unread = view?.unread.value ?? 0;
  const isCurrent = room.name === current;
  return (
    <li>
      <a
        href={`#${room.name}`}
        class={isCurrent ? "room-item current" : "room-item"}
        aria-current={isCurrent ? "page" : undefined}
        title={room.topic || undefined}
        data-testid="room-item"
        data-room={room.name}
        onClick={(e) => {
          e.preventDefault();
          openRoom(room.name);
        }}
      >
        <span class="room-hash" aria-hidden="true">#</span>
        <span class="room-name">{room.name}</span>
        {unread > 0 && (
          <span class="unread-badge" data-testid="room-unread" title={`${unread} unread`}>
            {unread > 99 ? "99+" : unread}
          </span>
        )}
        <span class="online-count" title={`${online} online`}>{online}</span>
      </a>
    </li>
  );
}

function CreateRoomForm() {
  const [name, setName] = useState("");
  const [receipts, setReceipts] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const invalid = name !== "" && !ROOM_NAME_PATTERN.test(name);
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!ROOM_NAME_PATTERN.test(name)) {
      setError(ROOM_HINT);
      return;
    }
    setBusy(true);
    try {
      await createRoom(name, { receipts });
      setName("");
      setReceipts(false);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="create-room" onSubmit={onSubmit} noValidate>
      <label class="panel-title" for="room-input">New room</label>
      <div class="input-row">
        <input
          id="room-input"
          data-testid="room-input"
          placeholder="e.g. random"
          autocomplete="off"
          spellcheck={false}
          maxLength={32}
          value={name}
          aria-invalid={invalid || error !== null}
          aria-describedby="room-hint"
          onInput={(e) => {
            // Room names are lowercase slugs; help the user type one.
            setName(e.currentTarget.value.toLowerCase().replace(/\s/g, "-"));
            setError(null);
          }}
        />
        <button type="submit" data-testid="room-create" disabled={busy}>Create</button>
      </div>
      <p id="room-hint" class={error || invalid ? "hint error" : "hint"}>
        {error ?? (invalid ? ROOM_HINT : "a–z, 0–9, - and _")}
      </p>
      <label class="check">
        <input
          type="checkbox"
          data-testid="room-receipts"
          checked={receipts}
          onChange={(e) => setReceipts(e.currentTarget.checked)}
        />
        Show read receipts
      </label>
    </form>
  );
}

function close() {
  panel.value = null;
}
