import { useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import type { Member } from "../../protocol/messages.ts";
import { Avatar } from "../components/Avatar.tsx";
import { connectAs, forgetIdentity, signUp } from "../lib/app.ts";
import { gateMessage, gateOpen, knownIdentities } from "../lib/state.ts";

/** Pick a display name, or continue as an identity this browser already holds. */
export function NameGate({ title }: { title: string }) {
  if (!gateOpen.value) return null;
  return (
    <div class="gate" role="dialog" aria-modal="true" aria-labelledby="gate-title">
      <GateForm title={title} />
    </div>
  );
}

function GateForm({ title }: { title: string }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const known = knownIdentities.value;
  const trimmed = name.trim();

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (trimmed === "") return setError("Please enter a name.");
    setBusy(true);
    try {
      await signUp(trimmed);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const forget = async (user: Member) => {
    try {
      await forgetIdentity(user);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <div class="gate-card">
      <h1 id="gate-title">{title}</h1>
      <form onSubmit={onSubmit}>
        <label for="name-input">Pick a display name</label>
        <div class="input-row">
          <input
            id="name-input"
            data-testid="name-input"
            autocomplete="nickname"
            maxLength={LIMITS.displayNameChars}
            value={name}
            autoFocus
            onInput={(e) => {
              setName(e.currentTarget.value);
              setError(null);
            }}
          />
          <button type="submit" data-testid="name-submit" disabled={busy || trimmed === ""}>
            Start chatting
          </button>
        </div>
      </form>
      {(error ?? gateMessage.value) && (
        <p class="gate-error" role="alert">{error ?? gateMessage.value}</p>
      )}
      {known.length > 0 && (
        <div class="known">
          <h2>Or continue as</h2>
          <ul>
            {known.map((user) => (
              <li key={user.id}>
                <button
                  type="button"
                  class="continue"
                  data-testid="continue-as"
                  onClick={() => connectAs(user)}
                >
                  <Avatar user={user} small />
                  <span>{user.name}</span>
                </button>
                <button
                  type="button"
                  class="link-button"
                  aria-label={`Forget ${user.name}`}
                  onClick={() => forget(user)}
                >
                  Forget
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
