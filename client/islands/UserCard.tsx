import { useEffect, useState } from "preact/hooks";
import { allowed } from "../../protocol/permissions.ts";
import { Avatar } from "../components/Avatar.tsx";
import { Modal } from "../components/Modal.tsx";
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
  }, [user?.id]);
  if (!user) return null;
  const close = () => userCard.value = null;
  // dm.open does not depend on a room: any standing with this server role answers it.
  const dmsOn = features.value.directMessages;
  const mayDm = dmsOn && user.id !== me?.id && role !== null &&
    allowed("dm.open", { server: role, kind: "dm", room: null });
  const message = async () => {
    setBusy(true);
    setError(null);
    try {
      await openDm(user);
      close();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal key={user.id} title={user.name} onClose={close} testid="user-card" class="user-card">
      <div class="user-card-head">
        <Avatar user={user} />
        <strong data-testid="user-card-name">{user.name}</strong>
      </div>
      {mayDm
        ? (
          <button
            type="button"
            data-testid="user-message"
            data-autofocus
            disabled={busy}
            onClick={message}
          >
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
      <button type="button" class="secondary" onClick={close}>Close</button>
    </Modal>
  );
}
