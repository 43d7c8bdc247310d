import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { FREQUENT_EMOJI, searchShortcodes, type ShortcodeMatch } from "../lib/emoji.ts";

interface EmojiPickerProps {
  onPick: (emoji: string) => void;
  onClose: () => void;
}

const RESULTS = 24;

/**
 * A small popover to pick a reaction: frequent emoji, and a search by shortcode. Escape
 * or a click elsewhere closes it; Enter in the search picks the first match.
 */
export function EmojiPicker({ onPick, onClose }: EmojiPickerProps) {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<readonly ShortcodeMatch[]>(FREQUENT_EMOJI);
  const box = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLInputElement>(null);

  useLayoutEffect(() => {
    input.current?.focus({ preventScroll: true });
  }, []);

  useEffect(() => {
    let live = true;
    const q = query.trim();
    if (q === "") setFound(FREQUENT_EMOJI);
    else searchShortcodes(q, RESULTS).then((m) => live && setFound(m));
    return () => {
      live = false;
    };
  }, [query]);

  useEffect(() => {
    const away = (e: Event) => {
      if (box.current && !box.current.contains(e.target as Node)) onClose();
    };
    document.addEventListener("pointerdown", away, true);
    return () => document.removeEventListener("pointerdown", away, true);
  }, [onClose]);

  return (
    <div
      ref={box}
      class="emoji-picker"
      role="dialog"
      aria-label="Add a reaction"
      data-testid="emoji-picker"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <input
        ref={input}
        type="search"
        class="emoji-search"
        data-testid="emoji-search"
        aria-label="Search emoji by name"
        placeholder="Search emoji"
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && found[0]) {
            e.preventDefault();
            onPick(found[0].emoji);
          }
        }}
      />
      <div class="emoji-grid" role="group" aria-label={query.trim() ? "Matches" : "Frequent"}>
        {found.map((m) => (
          <button
            key={m.shortcode}
            type="button"
            class="emoji-option"
            data-testid="emoji-option"
            data-shortcode={m.shortcode}
            title={`:${m.shortcode}:`}
            aria-label={m.shortcode.replace(/_/g, " ")}
            onClick={() => onPick(m.emoji)}
          >
            {m.emoji}
          </button>
        ))}
        {found.length === 0 && <span class="emoji-none">No emoji match</span>}
      </div>
    </div>
  );
}
