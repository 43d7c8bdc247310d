import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../lib/api.ts";
import { signIn, signInAsGuest, signUp } from "../lib/app.ts";
import { gate, gateMessage, serverAccess } from "../lib/state.ts";

/** The same rule the server applies; checked here only to say so before a round trip. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/;
const MIN_PASSWORD = 10;

type Mode = "signin" | "register";

/**
 * The sign-in page: sign in, create an account (with an invitation code when the server
 * asks for one) or continue as a guest. Until the server says who we are, it is a blank
 * cover, so a signed-out visitor never sees the chat behind it.
 */
export function AuthGate({ title, logo }: { title: string; logo?: string }) {
  const state = gate.value;
  if (state === "closed") return null;
  return (
    <div class="gate" data-testid="auth-gate" data-state={state}>
      {state === "checking"
        ? <p class="gate-checking" aria-live="polite">Loading {title}…</p>
        : <AuthForm title={title} logo={logo} />}
    </div>
  );
}

function AuthForm({ title, logo }: { title: string; logo?: string }) {
  const access = serverAccess.value;
  const registration = access?.registration ?? "open";
  const [mode, setMode] = useState<Mode>("signin");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [invite, setInvite] = useState("");
  const [error, setError] = useState<{ code: string; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  /** After a rate limit: no submitting until then. */
  const [blockedUntil, setBlockedUntil] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const waiting = blockedUntil > now;
  useEffect(() => {
    if (blockedUntil <= Date.now()) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [blockedUntil]);

  const registering = mode === "register" && registration !== "closed";
  const switchMode = (next: Mode) => {
    setMode(next);
    setError(null);
  };

  const fail = (err: unknown) => {
    if (err instanceof ApiError) {
      if (err.code === "rate_limited" && err.retryAfterMs) {
        setBlockedUntil(Date.now() + err.retryAfterMs);
        setNow(Date.now());
      }
      setError({ code: err.code, text: err.message });
    } else setError({ code: "internal", text: (err as Error).message });
  };

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (busy || waiting) return;
    const name = username.trim();
    const problem = registering ? registerProblem(name, password) : signInProblem(name, password);
    if (problem) return setError({ code: "invalid", text: problem });
    setBusy(true);
    setError(null);
    try {
      if (registering) await signUp(name, password, registration === "invite" ? invite : undefined);
      else await signIn(name, password);
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const guest = async () => {
    setBusy(true);
    setError(null);
    try {
      await signInAsGuest();
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const message = gateMessage.value;
  return (
    <div class="gate-card" role="dialog" aria-modal="true" aria-labelledby="gate-title">
      {logo && <img class="gate-logo" src={logo} alt="" />}
      <h1 id="gate-title">{title}</h1>
      {message && <p class="gate-message" data-testid="auth-message" role="status">{message}</p>}
      {registration !== "closed" && (
        <div class="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            class={mode === "signin" ? "tab current" : "tab"}
            aria-selected={mode === "signin"}
            data-testid="auth-mode-signin"
            onClick={() => switchMode("signin")}
          >
            Sign in
          </button>
          <button
            type="button"
            role="tab"
            class={mode === "register" ? "tab current" : "tab"}
            aria-selected={mode === "register"}
            data-testid="auth-mode-register"
            onClick={() => switchMode("register")}
          >
            Create account
          </button>
        </div>
      )}
      <form class="auth-form" onSubmit={onSubmit} noValidate data-mode={mode}>
        <label for="auth-username">Username</label>
        <input
          id="auth-username"
          data-testid="auth-username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          maxLength={32}
          value={username}
          autoFocus
          onInput={(e) => {
            setUsername(e.currentTarget.value);
            setError(null);
          }}
        />
        {registering && (
          <p class="hint">
            3–32 letters, digits, “.”, “_” or “-”, starting with a letter or digit.
          </p>
        )}
        <label for="auth-password">Password</label>
        <input
          id="auth-password"
          data-testid="auth-password"
          type="password"
          autocomplete={registering ? "new-password" : "current-password"}
          value={password}
          onInput={(e) => {
            setPassword(e.currentTarget.value);
            setError(null);
          }}
        />
        {registering && (
          <p class="hint">
            At least {MIN_PASSWORD} characters besides your username; not a common password.
          </p>
        )}
        {registering && registration === "invite" && (
          <>
            <label for="auth-invite">Invitation code</label>
            <input
              id="auth-invite"
              data-testid="auth-invite"
              autocomplete="off"
              spellcheck={false}
              value={invite}
              onInput={(e) => {
                setInvite(e.currentTarget.value);
                setError(null);
              }}
            />
            <p class="hint">This server is invitation only; ask an admin for a code.</p>
          </>
        )}
        {error && (
          <p class="gate-error" role="alert" data-testid="auth-error" data-code={error.code}>
            {error.code !== "rate_limited" || blockedUntil === 0
              ? error.text
              : waiting
              ? `Too many attempts. Try again in ${Math.ceil((blockedUntil - now) / 1000)} s.`
              : "You can try again now."}
          </p>
        )}
        <button type="submit" data-testid="auth-submit" disabled={busy || waiting}>
          {registering ? "Create account" : "Sign in"}
        </button>
      </form>
      {registration === "closed" && <p class="muted">This server does not take new accounts.</p>}
      {access?.guests && (
        <button
          type="button"
          class="secondary"
          data-testid="auth-guest"
          disabled={busy}
          onClick={guest}
        >
          Continue as guest
        </button>
      )}
    </div>
  );
}

function signInProblem(username: string, password: string): string | null {
  if (username === "") return "Enter your username.";
  if (password === "") return "Enter your password.";
  return null;
}

function registerProblem(username: string, password: string): string | null {
  if (!USERNAME.test(username)) {
    return "Usernames are 3–32 letters, digits, “.”, “_” or “-”, starting with a letter or digit.";
  }
  if (password.length < MIN_PASSWORD) {
    return `Use at least ${MIN_PASSWORD} characters for your password.`;
  }
  // The server's rule: what is left without the username must be long enough by itself.
  if (password.toLowerCase().replaceAll(username.toLowerCase(), "").length < MIN_PASSWORD) {
    return "That password is too close to your username.";
  }
  return null;
}
