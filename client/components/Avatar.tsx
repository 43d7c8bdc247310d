import type { Member } from "../../protocol/messages.ts";

/** Number of `avatar-N` colour classes in styles.css (inline styles are blocked by the CSP). */
const COLOURS = 8;

export function Avatar({ user, small }: { user: Member; small?: boolean }) {
  return (
    <span
      class={`avatar avatar-${colourIndex(user.id)}${small ? " avatar-small" : ""}`}
      aria-hidden="true"
    >
      {initials(user.name)}
    </span>
  );
}

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1
    ? [words[0]!, words.at(-1)!].map(first)
    : [first(words[0] ?? "?")];
  return letters.join("").toUpperCase();
}

/** First user-perceived character, so an emoji or accented letter is not cut in half. */
function first(word: string): string {
  return Array.from(word)[0] ?? "?";
}

function colourIndex(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) | 0;
  return Math.abs(hash) % COLOURS;
}
