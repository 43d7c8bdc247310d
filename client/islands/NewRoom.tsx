import { useState } from "preact/hooks";
import { LIMITS, ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import type { RoomKind } from "../../protocol/permissions.ts";
import { Modal } from "../components/Modal.tsx";
import { createRoom } from "../lib/app.ts";
import { dialog, features } from "../lib/state.ts";

const ROOM_HINT = "Lowercase letters, digits, - and _ (up to 32).";

const KIND_HINT: Record<Exclude<RoomKind, "dm">, string> = {
  public: "Anyone can find and join it.",
  private: "Only people you invite can see and join it.",
  announcement: "Everyone can read; only moderators post.",
};

/** The "+" dialog: create a room with its name, kind, title and topic, then open it. */
export function NewRoomDialog() {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<Exclude<RoomKind, "dm">>("public");
  const [title, setTitle] = useState("");
  const [topic, setTopic] = useState("");
  const [receipts, setReceipts] = useState(false);
  const receiptsOn = features.value.receipts;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const invalid = name !== "" && !ROOM_NAME_PATTERN.test(name);
  const close = () => dialog.value = null;
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!ROOM_NAME_PATTERN.test(name)) {
      setError(ROOM_HINT);
      return;
    }
    setBusy(true);
    try {
      await createRoom(name, {
        kind,
        ...(title.trim() ? { title: title.trim() } : {}),
        ...(topic.trim() ? { topic: topic.trim() } : {}),
        ...(receiptsOn && receipts ? { receipts } : {}),
      });
      close();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal title="New room" onClose={close} testid="new-room-dialog">
      <form class="modal-form" onSubmit={onSubmit} noValidate>
        <label class="field">
          <span>Name</span>
          <input
            data-testid="room-input"
            placeholder="e.g. random"
            autocomplete="off"
            spellcheck={false}
            maxLength={32}
            required
            value={name}
            aria-invalid={invalid || error !== null}
            aria-describedby="new-room-hint"
            onInput={(e) => {
              // Room names are lowercase slugs; help the user type one.
              setName(e.currentTarget.value.toLowerCase().replace(/\s/g, "-"));
              setError(null);
            }}
          />
        </label>
        <p
          id="new-room-hint"
          class={error || invalid ? "hint error" : "hint"}
          role={error ? "alert" : undefined}
          data-testid="new-room-error"
        >
          {error ?? (invalid ? ROOM_HINT : "a–z, 0–9, - and _")}
        </p>
        <label class="field">
          <span>Kind</span>
          <select
            data-testid="room-kind"
            value={kind}
            aria-describedby="new-room-kind-hint"
            onChange={(e) => setKind(e.currentTarget.value as Exclude<RoomKind, "dm">)}
          >
            <option value="public">Public</option>
            <option value="private">Private</option>
            <option value="announcement">Announcement</option>
          </select>
        </label>
        <p id="new-room-kind-hint" class="hint">{KIND_HINT[kind]}</p>
        <label class="field">
          <span>Title (optional)</span>
          <input
            data-testid="room-title-input"
            maxLength={LIMITS.displayNameChars}
            value={title}
            onInput={(e) => setTitle(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Topic (optional)</span>
          <input
            data-testid="room-topic-input"
            maxLength={LIMITS.topicChars}
            value={topic}
            onInput={(e) => setTopic(e.currentTarget.value)}
          />
        </label>
        {receiptsOn && (
          <label class="check">
            <input
              type="checkbox"
              data-testid="room-receipts"
              checked={receipts}
              onChange={(e) => setReceipts(e.currentTarget.checked)}
            />
            Show read receipts
          </label>
        )}
        <div class="modal-actions">
          <button type="button" class="secondary" onClick={close}>Cancel</button>
          <button type="submit" data-testid="room-create" disabled={busy}>Create</button>
        </div>
      </form>
    </Modal>
  );
}
