import { useEffect, useState } from "preact/hooks";
import type { Member } from "../../protocol/messages.ts";
import { Avatar } from "../components/Avatar.tsx";
import { Modal } from "../components/Modal.tsx";
import { fetchMembers, openDm, request } from "../lib/app.ts";
import { knownPeople, matchPeople } from "../lib/directory.ts";
import { dialog, identity, rooms } from "../lib/state.ts";

const LIST_ID = "dm-picker-list";

/**
 * "New message": type a name; people from the user's rooms are suggested, and the exact
 * name is looked up on the server (`user.find`) so anyone can be reached. Picking one
 * opens the direct-message room with them.
 */
export function DmPickerDialog() {
  const [query, setQuery] = useState("");
  const [people, setPeople] = useState<Member[]>([]);
  const [found, setFound] = useState<Member | null>(null);
  const [active, setActive] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const me = identity.value;
  const close = () => dialog.value = null;

  useEffect(() => {
    let live = true;
    knownPeople(rooms.value ?? [], me?.id, async (room) => {
      const { members } = await fetchMembers(room);
      return members.map((m) => m.user);
    }).then((list) => live && setPeople(list));
    return () => {
      live = false;
    };
  }, []);

  // Someone not in any shared room: ask the server for the exact name.
  useEffect(() => {
    setFound(null);
    const name = query.trim();
    if (name.length < 2) return;
    let live = true;
    const timer = setTimeout(() => {
      request("user.find", { name })
        .then(({ user }) => live && user.id !== me?.id && setFound(user))
        .catch(() => {});
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [query]);

  const matches = matchPeople(people, query);
  const options = found && !matches.some((p) => p.id === found.id) ? [found, ...matches] : matches;
  const index = Math.min(active, options.length - 1);

  const pick = async (user: Member) => {
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

  const onKeyDown = (e: KeyboardEvent) => {
    if (options.length === 0) return;
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setActive((index + 1) % options.length);
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setActive((index - 1 + options.length) % options.length);
    } else if (e.key === "Enter" && !e.isComposing) {
      e.preventDefault();
      if (!busy) pick(options[index]!);
    }
  };

  return (
    <Modal title="New message" onClose={close} testid="dm-picker">
      <div class="modal-form">
        <label class="field">
          <span>To</span>
          <input
            data-testid="dm-picker-input"
            role="combobox"
            aria-expanded={options.length > 0}
            aria-controls={LIST_ID}
            aria-autocomplete="list"
            aria-activedescendant={options.length ? `dm-option-${index}` : undefined}
            placeholder="Type a name"
            autocomplete="off"
            spellcheck={false}
            value={query}
            onInput={(e) => {
              setQuery(e.currentTarget.value);
              setActive(0);
              setError(null);
            }}
            onKeyDown={onKeyDown}
          />
        </label>
        <ul id={LIST_ID} class="pick-list" role="listbox" aria-label="People">
          {options.map((user, i) => (
            <li
              key={user.id}
              id={`dm-option-${i}`}
              role="option"
              aria-selected={i === index}
              class={i === index ? "pick-row pick-option active" : "pick-row pick-option"}
              data-testid="dm-option"
              data-name={user.name}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => !busy && pick(user)}
            >
              <Avatar user={user} small />
              <span class="pick-title">{user.name}</span>
            </li>
          ))}
        </ul>
        {options.length === 0 && (
          <p class="muted" data-testid="dm-picker-empty">
            {query.trim() ? "Nobody by that name yet." : "Nobody to suggest yet: type a name."}
          </p>
        )}
        {error && <p class="form-error" role="alert">{error}</p>}
      </div>
    </Modal>
  );
}
