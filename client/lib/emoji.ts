/**
 * Emoji shortcodes (`:tada:` → 🎉), GitHub's names from the pinned emojibase-data, imported
 * as it is published (about 15 KiB gzipped in the bundle). Its keys are the emoji's code
 * points; the maps are built only when first asked.
 */
import github from "emojibase-data/en/shortcodes/github.json" with { type: "json" };

export interface ShortcodeMatch {
  shortcode: string;
  emoji: string;
}

/** Offered first by the reaction picker, before any search. */
export const FREQUENT_EMOJI: readonly ShortcodeMatch[] = [
  { shortcode: "+1", emoji: "👍" },
  { shortcode: "heart", emoji: "❤️" },
  { shortcode: "joy", emoji: "😂" },
  { shortcode: "tada", emoji: "🎉" },
  { shortcode: "open_mouth", emoji: "😮" },
  { shortcode: "cry", emoji: "😢" },
  { shortcode: "pray", emoji: "🙏" },
  { shortcode: "eyes", emoji: "👀" },
  { shortcode: "fire", emoji: "🔥" },
  { shortcode: "white_check_mark", emoji: "✅" },
  { shortcode: "rocket", emoji: "🚀" },
  { shortcode: "-1", emoji: "👎" },
];

/** A shortcode as it may appear between colons. */
export const SHORTCODE_PATTERN = /^[a-z0-9_+-]{1,64}$/;

let byCode: Map<string, string> | null = null;
/** Every shortcode, in emojibase order (common faces first), for prefix search. */
const codes: string[] = [];

function load(): Map<string, string> {
  if (byCode) return byCode;
  byCode = new Map();
  for (const [hexcode, value] of Object.entries(github as Record<string, string | string[]>)) {
    const emoji = String.fromCodePoint(...hexcode.split("-").map((hex) => parseInt(hex, 16)));
    // Text-presentation selectors (U+FE0F) are dropped: "👍️" and "👍" are one reaction.
    const plain = withPresentation(emoji);
    for (const name of typeof value === "string" ? [value] : value) {
      if (!byCode.has(name)) {
        byCode.set(name, plain);
        codes.push(name);
      }
    }
  }
  return byCode;
}

/**
 * One spelling per emoji: no presentation selector where the character is an emoji by
 * default, and one where a lone character would otherwise show as text (❤️, ☺️).
 */
function withPresentation(emoji: string): string {
  const base = emoji.endsWith("\ufe0f") ? emoji.slice(0, -1) : emoji;
  if (/^\p{Emoji_Presentation}$/u.test(base)) return base;
  return [...base].length === 1 ? `${base}\ufe0f` : emoji;
}

/** The emoji for `shortcode` (without colons), or undefined. */
export function emojiFor(shortcode: string): string | undefined {
  return load().get(shortcode.toLowerCase());
}

/**
 * Shortcodes starting with `prefix` (without the colon), shortest first; then, when
 * fewer than `limit` start with it, those containing it. At most `limit`.
 */
export function searchShortcodes(prefix: string, limit: number): Promise<ShortcodeMatch[]> {
  return Promise.resolve(searchNow(prefix, limit));
}

/** What `searchShortcodes` answers, at once. */
export function searchNow(prefix: string, limit: number): ShortcodeMatch[] {
  const map = load();
  const query = prefix.toLowerCase().replace(/^:/, "");
  if (limit <= 0) return [];
  if (query === "") {
    return FREQUENT_EMOJI.slice(0, limit).map((e) => ({ ...e }));
  }
  const starts: string[] = [];
  const contains: string[] = [];
  for (const code of codes) {
    if (code.startsWith(query)) starts.push(code);
    else if (contains.length < limit && code.includes(query)) contains.push(code);
  }
  starts.sort((a, b) => a.length - b.length);
  return [...starts, ...contains].slice(0, limit).map((shortcode) => ({
    shortcode,
    emoji: map.get(shortcode)!,
  }));
}

/** `text` with each `:shortcode:` known here replaced by its emoji; unknown ones stay. */
export function replaceShortcodes(text: string): string {
  if (!text.includes(":")) return text;
  return text.replace(/:([a-z0-9_+-]{1,64}):/gi, (whole, code: string) => emojiFor(code) ?? whole);
}
