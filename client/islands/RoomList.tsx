import { useEffect } from "preact/hooks";
import type { Member, RoomInfo } from "../../protocol/messages.ts";
import { allowed } from "../../protocol/permissions.ts";
import { AtIcon, LockIcon, MegaphoneIcon } from "../components/Icons.tsx";
import { roomLabel } from "../lib/access.ts";
import { openRoom } from "../lib/app.ts";
import {
  currentRoom,
  dialog,
  features,
  identity,
  panel,
  peekRoomView,
  rooms,
  serverRole,
} from "../lib/state.ts";

/** The rooms in the order the list shows them: rooms by label, then direct messages. */
function ordered(list: readonly RoomInfo[], me: Member | null, dmsOn: boolean): RoomInfo[] {
  const byLabel = (a: RoomInfo, b: RoomInfo) =>
    roomLabel(a, me).localeCompare(roomLabel(b, me)) || a.name.localeCompare(b.name);
  const channels = list.filter((r) => r.kind !== "dm").sort(byLabel);
  const dms = dmsOn ? list.filter((r) => r.kind === "dm").sort(byLabel) : [];
  return [...channels, ...dms];
}

/** Alt+ArrowUp / Alt+ArrowDown anywhere: the previous or next room of the list. */
function onShortcut(e: KeyboardEvent): void {
  if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  if (dialog.value !== null) return;
  const list = ordered(rooms.value ?? [], identity.value, features.value.directMessages);
  if (list.length === 0) return;
  const at = list.findIndex((r) => r.name === currentRoom.value);
  const step = e.key === "ArrowUp" ? -1 : 1;
  const next = at === -1 ? 0 : (at + step + list.length) % list.length;
  e.preventDefault();
  openRoom(list[next]!.name);
}

/** The rooms, then direct messages, with online and unread counts; a drawer on narrow screens. */
export function RoomList(props: { rooms: RoomInfo[] }) {
  // Until the socket lists rooms, show the public ones the server rendered the page with.
  const list = rooms.value ??
    props.rooms.filter((r) => r.kind === "public" || r.kind === "announcement");
  const current = currentRoom.value;
  const me = identity.value;
  const open = panel.value === "rooms";
  const role = serverRole.value;
  // Direct messages switched off: no section for them, whatever the server still lists.
  const dmsOn = features.value.directMessages;
  const all = ordered(list, me, dmsOn);
  const channels = all.filter((r) => r.kind !== "dm");
  const dms = all.filter((r) => r.kind === "dm");
  // Guests may not create rooms; the kind of room does not matter for that.
  const mayCreate = role !== null &&
    allowed("room.create", { server: role, kind: "public", room: null });
  const mayDm = dmsOn && role !== null &&
    allowed("dm.open", { server: role, kind: "dm", room: null });
  useEffect(() => {
    document.addEventListener("keydown", onShortcut);
    return () => document.removeEventListener("keydown", onShortcut);
  }, []);
  const show = (which: "new-room" | "directory" | "new-dm") => {
    panel.value = null;
    dialog.value = which;
  };
  return (
    <>
      <nav class={open ? "rooms-panel open" : "rooms-panel"} aria-label="Rooms">
        <div class="panel-head">
          <h2 class="panel-title">Rooms</h2>
          {mayCreate && (
            <button
              type="button"
              class="icon-button panel-add"
              aria-label="New room"
              title="New room"
              aria-haspopup="dialog"
              data-testid="new-room"
              onClick={() => show("new-room")}
            >
              <span aria-hidden="true">+</span>
            </button>
          )}
        </div>
        {channels.length === 0 && <p class="muted">No rooms yet. Create the first one.</p>}
        <ul class="room-list">
          {channels.map((room) => (
            <RoomItem key={room.name} room={room} label={roomLabel(room, me)} current={current} />
          ))}
        </ul>
        <button
          type="button"
          class="link-button panel-link"
          aria-haspopup="dialog"
          data-testid="browse-rooms"
          onClick={() => show("directory")}
        >
          Browse rooms
        </button>
        {(dms.length > 0 || mayDm) && (
          <div class="panel-head dm-title">
            <h2 class="panel-title">Direct messages</h2>
            {mayDm && (
              <button
                type="button"
                class="icon-button panel-add"
                aria-label="New message"
                title="New message"
                aria-haspopup="dialog"
                data-testid="new-dm"
                onClick={() => show("new-dm")}
              >
                <span aria-hidden="true">+</span>
              </button>
            )}
          </div>
        )}
        {dms.length > 0 && (
          <>
            <ul class="room-list" data-testid="dm-list" aria-label="Direct messages">
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
  const mentions = view?.mentions.value ?? 0;
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
        {mentions > 0 && (
          <span
            class="mention-badge"
            data-testid="room-mentions"
            title={`${mentions} ${mentions === 1 ? "mention" : "mentions"}`}
          >
            @{mentions > 99 ? "99+" : mentions}
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

function close() {
  panel.value = null;
}
