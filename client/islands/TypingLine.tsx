import { currentRoom, roomView } from "../lib/state.ts";

/** "Alice is typing…" for the current room; always rendered so the layout does not jump. */
export function TypingLine() {
  const room = currentRoom.value;
  const names = room ? roomView(room).typing.value.map((m) => m.name) : [];
  return (
    <div class="typing" data-testid="typing" aria-live="polite">
      {typingText(names)}
    </div>
  );
}

function typingText(names: readonly string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length <= 3) {
    return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
  }
  return "Several people are typing…";
}
