import { Avatar } from "../components/Avatar.tsx";
import { currentRoom, features, identity, panel, roomView, userCard } from "../lib/state.ts";

/** Who is online in the current room; a name opens the card to message them. */
export function Members() {
  const room = currentRoom.value;
  const me = identity.value;
  const members = room ? roomView(room).presence.value : [];
  const open = panel.value === "members";
  // A name opens the card to message them; without direct messages it is just a name.
  const cards = features.value.directMessages;
  return (
    <>
      <aside class={open ? "members-panel open" : "members-panel"} aria-label="Online members">
        <h2 class="panel-title">Online{room ? ` — ${members.length}` : ""}</h2>
        <ul class="member-list">
          {members.map((m) => (
            <li key={m.id} class="member" data-testid="member" data-uid={m.id}>
              <Avatar user={m} small />
              {m.id === me?.id || !cards ? <span class="member-name">{m.name}</span> : (
                <button
                  type="button"
                  class="member-name name-button"
                  data-testid="member-name"
                  title={`${m.name}: message`}
                  onClick={() => userCard.value = m}
                >
                  {m.name}
                </button>
              )}
              {m.id === me?.id && <span class="you">you</span>}
            </li>
          ))}
        </ul>
      </aside>
      {open && (
        <button
          type="button"
          class="backdrop"
          aria-label="Close members"
          onClick={() => panel.value = null}
        />
      )}
    </>
  );
}
