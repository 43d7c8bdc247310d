import { dismissNotice, notices } from "../lib/state.ts";

/** Short notices, e.g. "You were kicked from #x"; each goes by itself after a while. */
export function Notices() {
  const list = notices.value;
  return (
    <div class="notices" aria-live="polite">
      {list.map((n) => (
        <div key={n.id} class="notice" data-testid="notice" role="status">
          <span>{n.text}</span>
          {n.action && (
            <button
              type="button"
              class="link-button notice-action"
              data-testid="notice-action"
              onClick={n.action.run}
            >
              {n.action.label}
            </button>
          )}
          <button
            type="button"
            class="link-button"
            aria-label="Dismiss"
            onClick={() => dismissNotice(n.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
