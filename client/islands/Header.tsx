import { Brand } from "../components/Brand.tsx";
import {
  AtIcon,
  GearIcon,
  LockIcon,
  MegaphoneIcon,
  MenuIcon,
  PeopleIcon,
} from "../components/Icons.tsx";
import { roomLabel } from "../lib/access.ts";
import {
  currentRoom,
  identity,
  panel,
  peekRoomView,
  roomInfo,
  rooms,
  settingsOpen,
} from "../lib/state.ts";

/** Brand, current room with its settings button and, on narrow screens, the panel toggles. */
export function Header({ title, logo }: { title: string; logo?: string }) {
  const room = currentRoom.value;
  const info = roomInfo(room);
  const online = room ? peekRoomView(room)?.presence.value.length ?? 0 : 0;
  const unreadElsewhere = (rooms.value ?? []).some((r) =>
    r.name !== room && (peekRoomView(r.name)?.unread.value ?? 0) > 0
  );
  const toggle = (which: "rooms" | "members") => {
    panel.value = panel.value === which ? null : which;
  };
  const label = info ? roomLabel(info, identity.value) : room;
  return (
    <div class="header">
      <button
        type="button"
        class="icon-button rooms-toggle"
        aria-label="Rooms"
        aria-expanded={panel.value === "rooms"}
        data-testid="rooms-toggle"
        onClick={() => toggle("rooms")}
      >
        <MenuIcon />
        {unreadElsewhere && <span class="unread-dot" />}
      </button>
      <Brand title={title} logo={logo} />
      <div class="room-title">
        {room && (
          <h1 data-testid="room-title">
            {info?.kind === "dm" ? <AtIcon /> : "#"}
            {label}
            {info?.kind === "private" && <LockIcon />}
            {info?.kind === "announcement" && <MegaphoneIcon />}
          </h1>
        )}
        {info?.topic && <span class="topic">{info.topic}</span>}
      </div>
      {room && info && (
        <button
          type="button"
          class="icon-button settings-toggle"
          aria-label="Room settings"
          title="Room settings"
          aria-expanded={settingsOpen.value}
          data-testid="room-settings"
          onClick={() => settingsOpen.value = !settingsOpen.value}
        >
          <GearIcon />
        </button>
      )}
      {room && (
        <button
          type="button"
          class="icon-button members-toggle"
          aria-label={`${online} online`}
          aria-expanded={panel.value === "members"}
          data-testid="members-toggle"
          onClick={() => toggle("members")}
        >
          <PeopleIcon />
          <span>{online}</span>
        </button>
      )}
    </div>
  );
}
