import { useEffect, useRef, useState } from "preact/hooks";
import type { ServerRole } from "../../protocol/permissions.ts";
import { Avatar } from "../components/Avatar.tsx";
import { retryConnection, signOut } from "../lib/app.ts";
import type { ConnectionStatus } from "../lib/socket.ts";
import { connection, identity, serverRole } from "../lib/state.ts";

const ROLE_LABEL: Record<ServerRole, string> = { admin: "Admin", user: "User", guest: "Guest" };

/** Connection state, and the profile menu of whoever this tab is signed in as. */
export function Status() {
  const status = connection.value;
  const me = identity.value;
  const retryAt = status.state === "offline" ? status.retryAt : null;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (retryAt === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [retryAt]);
  return (
    <div class="status-bar">
      <span
        class={`status status-${status.state}`}
        data-testid="status"
        data-state={status.state}
        role="status"
      >
        <span class="status-dot" />
        <span class="status-label">{statusLabel(status, now)}</span>
      </span>
      {retryAt !== null && (
        <button type="button" class="link-button" onClick={retryConnection}>Retry now</button>
      )}
      {me && <ProfileMenu />}
    </div>
  );
}

function ProfileMenu() {
  const me = identity.value;
  const role = serverRole.value;
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const root = useRef<HTMLDivElement>(null);
  // Close on a click elsewhere or Escape, as menus do.
  useEffect(() => {
    if (!open) return;
    const onDown = (e: Event) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("pointerdown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("pointerdown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);
  if (!me) return null;
  const out = async (everywhere: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await signOut(everywhere);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <div class="profile" ref={root}>
      <button
        type="button"
        class="me"
        title={`Signed in as ${me.name}`}
        aria-haspopup="menu"
        aria-expanded={open}
        data-testid="profile-button"
        onClick={() => {
          setOpen(!open);
          setError(null);
        }}
      >
        <Avatar user={me} small />
        <span class="me-name" data-testid="me">{me.name}</span>
      </button>
      {open && (
        <div class="menu profile-menu" role="menu" data-testid="profile-menu">
          <div class="menu-head">
            <strong>{me.name}</strong>
            {role && <span class="role-badge" data-testid="profile-role">{ROLE_LABEL[role]}</span>}
          </div>
          <button
            type="button"
            role="menuitem"
            class="menu-item"
            data-testid="logout"
            disabled={busy}
            onClick={() => out(false)}
          >
            Log out
          </button>
          <button
            type="button"
            role="menuitem"
            class="menu-item"
            data-testid="logout-everywhere"
            title="End every session of this account, on every device"
            disabled={busy}
            onClick={() => out(true)}
          >
            Log out everywhere
          </button>
          {error && <p class="menu-error" role="alert">{error}</p>}
        </div>
      )}
    </div>
  );
}

function statusLabel(status: ConnectionStatus, now: number): string {
  if (status.state === "connected") return "connected";
  // Lost, and trying to get back: through every failed attempt it says "reconnecting".
  if (status.state === "connecting") return status.retrying ? "reconnecting…" : "connecting…";
  if (status.retryAt === null) return "offline";
  return `reconnecting in ${Math.max(1, Math.ceil((status.retryAt - now) / 1000))}s`;
}
