import { useEffect, useState } from "preact/hooks";
import { allowed } from "../../protocol/permissions.ts";
import { Avatar } from "../components/Avatar.tsx";
import { openDm } from "../lib/app.ts";
import { features, identity, serverRole, userCard } from "../lib/state.ts";

/** A person whose name was clicked: offers a direct message with them. */
export function UserCard() {
  const user = userCard.value;
  const me = identity.value;
  const role = serverRole.value;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setError(null);
    setBusy(false);
    if (!user) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") userCard.value = null;
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [user]);
  if (!user) return null;
  // dm.open does not depend on a room: any standing with this server role answers it.
  const dmsOn = features.value.directMessages;
  const mayDm = dmsOn && user.id !== me?.id && role !== null &&
    allowed("dm.open", { server: role, kind: "dm", room: null });
  const message = async () => {
    setBusy(true);
    setError(null);
    try {
      await openDm(user);
      userCard.value = null;
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <div class="overlay" data-testid="user-card-overlay">
      <button
        type="button"
        class="overlay-backdrop"
        aria-label="Close"
        onClick={() => userCard.value = null}
      />
      <div
        class="card user-card"
        role="dialog"
        aria-modal="true"
        aria-label={user.name}
        data-testid="user-card"
      >
        <div class="user-card-head">
          <Avatar user={user} />
          <strong data-testid="user-card-name">{user.name}</strong>
        </div>
        {mayDm
          ? (
            <button type="button" data-testid="user-message" disabled={busy} onClick={message}>
              Message
            </button>
          )
          : (
            <p class="muted">
              {user.id === me?.id
                ? "This is you."
                : !dmsOn
                ? "Direct messages are switched off on this server."
                : "Guests cannot start direct messages."}
            </p>
          )}
        {error && <p class="form-error" role="alert">{error}</p>}
        <button type="button" class="secondary" onClick={() => userCard.value = null}>
          Close
        </button>
      </div>
    </div>
  );
}
