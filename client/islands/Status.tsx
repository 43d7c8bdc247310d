import { useEffect, useState } from "preact/hooks";
import { Avatar } from "../components/Avatar.tsx";
import { retryConnection, switchUser } from "../lib/app.ts";
import type { ConnectionStatus } from "../lib/socket.ts";
import { connection, identity } from "../lib/state.ts";

/** Connection state and who this tab is signed in as. */
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
      {me && (
        <span class="me" title={`Signed in as ${me.name}`}>
          <Avatar user={me} small />
          <span class="me-name" data-testid="me">{me.name}</span>
        </span>
      )}
      {me && (
        <button type="button" class="link-button" title="Use another name" onClick={switchUser}>
          Switch
        </button>
      )}
    </div>
  );
}

function statusLabel(status: ConnectionStatus, now: number): string {
  if (status.state === "connected") return "connected";
  if (status.state === "connecting") return "connecting…";
  if (status.retryAt === null) return "offline";
  return `offline – retrying in ${Math.max(1, Math.ceil((status.retryAt - now) / 1000))}s`;
}
