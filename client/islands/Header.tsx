import { useState } from "preact/hooks";
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
  disableNotifications,
  enableNotifications,
  notificationsOn,
  notificationsSupported,
} from "../lib/notify.ts";
import {
  currentRoom,
  dialog,
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
  const me = identity.value;
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
      {me && (
        <button
          type="button"
          class="icon-button search-toggle"
          aria-label="Search messages"
          title="Search messages"
          aria-haspopup="dialog"
          data-testid="search-open"
          onClick={() => dialog.value = "search"}
        >
          <SearchIcon />
        </button>
      )}
      {me && <NotificationToggle />}
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

/** Desktop notifications for mentions and direct messages while the tab is hidden. */
function NotificationToggle() {
  const on = notificationsOn.value;
  const [error, setError] = useState<string | null>(null);
  // Server render and browsers without the API: nothing to offer.
  if (typeof document === "undefined" || !notificationsSupported()) return null;
  const toggle = async () => {
    setError(null);
    if (on) return disableNotifications();
    try {
      await enableNotifications();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const label = on ? "Desktop notifications on" : "Desktop notifications off";
  return (
    <>
      <button
        type="button"
        class={on ? "icon-button notify-toggle on" : "icon-button notify-toggle"}
        aria-label="Desktop notifications"
        aria-pressed={on}
        title={error ?? `${label}: mentions and direct messages while this tab is hidden`}
        data-testid="notify-toggle"
        onClick={toggle}
      >
        <BellIcon off={!on} />
      </button>
      {error && <span class="sr-only" role="alert">{error}</span>}
    </>
  );
}

function SearchIcon() {
  return (
    <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
      <circle cx="11" cy="11" r="6.5" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="m16 16 4.5 4.5" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

function BellIcon({ off }: { off: boolean }) {
  return (
    <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
      <path
        d="M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15zM10 20a2 2 0 0 0 4 0"
        fill="none"
        stroke="currentColor"
        stroke-width="1.8"
        stroke-linejoin="round"
      />
      {off && <path d="M4 4l16 16" stroke="currentColor" stroke-width="1.8" />}
    </svg>
  );
}
