import { useState } from "preact/hooks";
import type { RoomInfo } from "../../protocol/messages.ts";
import { ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import { allowed, type RoomKind } from "../../protocol/permissions.ts";
import { AtIcon, LockIcon, MegaphoneIcon } from "../components/Icons.tsx";
import { roomLabel } from "../lib/access.ts";
import { createRoom, openRoom } from "../lib/app.ts";
import {
  currentRoom,
  features,
  identity,
  panel,
  peekRoomView,
  rooms,
  serverRole,
} from "../lib/state.ts";

const ROOM_HINT = "Lowercase letters, digits, - and _ (up to 32).";

const KIND_HINT: Record<Exclude<RoomKind, "dm">, string> = {
  public: "Anyone can join.",
  private: "Only people you invite can see and join it.",
  announcement: "Everyone can read; only moderators post.",
};

/** The rooms, then direct messages, with online and unread counts; a drawer on narrow screens. */
export function RoomList(props: { rooms: RoomInfo[] }) {
  // Until the socket lists rooms, show the public ones the server rendered the page with.
  const list = rooms.value ??
    props.rooms.filter((r) => r.kind === "public" || r.kind === "announcement");
  const current = currentRoom.value;
  const me = identity.value;
  const open = panel.value === "rooms";
  const role = serverRole.value;
  const byLabel = (a: RoomInfo, b: RoomInfo) =>
    roomLabel(a, me).localeCompare(roomLabel(b, me)) || a.name.localeCompare(b.name);
  const channels = list.filter((r) => r.kind !== "dm").sort(byLabel);
  // Direct messages switched off: no section for them, whatever the server still lists.
  const dms = features.value.directMessages
    ? list.filter((r) => r.kind === "dm").sort(byLabel)
    : [];
  // Guests may not create rooms; the kind of room does not matter for that.
  const mayCreate = role !== null &&
    allowed("room.create", { server: role, kind: "public", room: null });
  return (
    <>
      <nav class={open ? "rooms-panel open" : "rooms-panel"} aria-label="Rooms">
        <h2 class="panel-title">Rooms</h2>
        {channels.length === 0 && <p class="muted">No rooms yet. Create the first one.</p>}
        <ul class="room-list">
          {channels.map((room) => (
            <RoomItem key={room.name} room={room} label={roomLabel(room, me)} current={current} />
          ))}
        </ul>
        {dms.length > 0 && (
          <>
            <h2 class="panel-title dm-title">Direct messages</h2>
            <ul class="room-list" data-testid="dm-list">
              {dms.map((room) => (
                <RoomItem
                  key={room.name}
                  room={room}
                  label={roomLabel(room, me)}
                  current={current}
                />
              ))}
            </ul>
          </>
        )}
        {mayCreate && <CreateRoomForm />}
      </nav>
      {open && <button type="button" class="backdrop" aria-label="Close rooms" onClick={close} />}
    </>
  );
}

function RoomItem(
  { room, label, current }: { room: RoomInfo; label: string; current: string | null },
) {
  const view = peekRoomView(room.name);
  const online = view?.joined.value === "yes" ? view.presence.value.length : room.online;
  const unread = view?.unread.value ?? 0;
  const isCurrent = room.name === current;
  const cls = ["room-item", isCurrent && "current", room.disabled && "disabled"]
    .filter(Boolean).join(" ");
  return (
    <li>
      <a
        href={`#${room.name}`}
        class={cls}
        aria-current={isCurrent ? "page" : undefined}
        title={room.topic || undefined}
        data-testid="room-item"
        data-room={room.name}
        data-kind={room.kind}
        onClick={(e) => {
          e.preventDefault();
          openRoom(room.name);
        }}
      >
        <span class="room-hash" aria-hidden="true">{room.kind === "dm" ? <AtIcon /> : "#"}</span>
        <span class="room-name" data-testid="room-label">{label}</span>
        {room.kind === "private" && (
          <span class="room-kind" data-testid="room-lock" title="Private room">
            <LockIcon />
          </span>
        )}
        {room.kind === "announcement" && (
          <span class="room-kind" data-testid="room-announcement" title="Announcements">
            <MegaphoneIcon />
          </span>
        )}
        {unread > 0 && (
          <span class="unread-badge" data-testid="room-unread" title={`${unread} unread`}>
            {unread > 99 ? "99+" : unread}
          </span>
        )}
        {room.kind !== "dm" && <span class="online-count" title={`${online} online`}>{online}
        </span>}
      </a>
    </li>
  );
}

function CreateRoomForm() {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<Exclude<RoomKind, "dm">>("public");
  const [receipts, setReceipts] = useState(false);
  const receiptsOn = features.value.receipts;
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
      await createRoom(name, { kind, ...(receiptsOn && receipts ? { receipts } : {}) });
      setName("");
      setReceipts(false);
      setKind("public");
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
      <label class="field">
        <span>Kind</span>
        <select
          data-testid="room-kind"
          value={kind}
          onChange={(e) => setKind(e.currentTarget.value as Exclude<RoomKind, "dm">)}
        >
          <option value="public">Public</option>
          <option value="private">Private</option>
          <option value="announcement">Announcement</option>
        </select>
      </label>
      <p class="hint">{KIND_HINT[kind]}</p>
      {receiptsOn && (
        <label class="check">
          <input
            type="checkbox"
            data-testid="room-receipts"
            checked={receipts}
            onChange={(e) => setReceipts(e.currentTarget.checked)}
          />
          Show read receipts
        </label>
      )}
    </form>
  );
}

function close() {
  panel.value = null;
}
