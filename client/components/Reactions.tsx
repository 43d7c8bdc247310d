import type { Member, Reaction } from "../../protocol/messages.ts";

interface ReactionsProps {
  reactions: readonly Reaction[];
  me: Member | null | undefined;
  /** Toggle one: add it, or take it back when `mine`. */
  onToggle?: (emoji: string, mine: boolean) => void;
  /** Open the picker to add another. */
  onAdd?: () => void;
}

const NAMES = 10;

/** Who reacted, as a tooltip and label: "Ada, Bob and 3 others". */
export function reactorNames(users: readonly Member[], me: string | undefined): string {
  const names = users.map((u) => u.id === me ? "you" : u.name);
  if (names.length <= NAMES) {
    return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  }
  return `${names.slice(0, NAMES).join(", ")} and ${names.length - NAMES} others`;
}

/** A message's reactions as chips: emoji and count, pressed when the viewer reacted. */
export function Reactions({ reactions, me, onToggle, onAdd }: ReactionsProps) {
  return (
    <div class="reactions" data-testid="reactions">
      {reactions.map((r) => {
        const mine = r.users.some((u) => u.id === me?.id);
        const who = reactorNames(r.users, me?.id);
        return (
          <button
            key={r.emoji}
            type="button"
            class={mine ? "reaction mine" : "reaction"}
            data-testid="reaction"
            data-emoji={r.emoji}
            aria-pressed={mine}
            aria-label={`${r.emoji} ${r.users.length}: ${who}`}
            title={`${who} reacted with ${r.emoji}`}
            disabled={!onToggle}
            onClick={() => onToggle?.(r.emoji, mine)}
          >
            <span class="reaction-emoji">{r.emoji}</span>
            <span class="reaction-count">{r.users.length}</span>
          </button>
        );
      })}
      {onAdd && (
        <button
          type="button"
          class="reaction reaction-add"
          data-testid="reaction-add-chip"
          aria-label="Add a reaction"
          title="Add a reaction"
          onClick={onAdd}
        >
          +
        </button>
      )}
    </div>
  );
}
