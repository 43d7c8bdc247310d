import { MenuIcon, PeopleIcon } from "../components/Icons.tsx";
import { currentRoom, panel, peekRoomView, rooms } from "../lib/state.ts";

/** Brand, current room and, on narrow screens, the buttons that open the side panels. */
export function Header({ title }: { title: string }) {
  const room = currentRoom.value;
  const info = room ? rooms.value?.find((r) => r.name === room) : undefined;
  const online = room ? peekRoomView(room)?.presence.value.length ?? 0 : 0;
  const unreadElsewhere = (rooms.value ?? []).some((r) =>
    r.name !== room && (peekRoomView(r.name)?.unread.value ?? 0) > 0
  );
  const toggle = (which: "rooms" | "members") => {
    panel.value = panel.value === which ? null : which;
  };
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
      <span class="brand">{title}</span>
      <div class="room-title">
        {room && <h1>#{room}</h1>}
        {info?.topic && <span class="topic">{info.topic}</span>}
      </div>
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
