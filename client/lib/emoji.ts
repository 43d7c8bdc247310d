/**
 * Emoji shortcodes (`:tada:` → 🎉), GitHub's names from emojibase-data. The table is one
 * compact string in the bundle (about 15 KiB gzipped); it is split into maps only when
 * first asked, so pages that never meet a shortcode pay nothing but its download.
 */
import { EMOJI_TABLE } from "./emoji_data.ts";

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
  for (const line of EMOJI_TABLE.split("\n")) {
    const [emoji, ...names] = line.split(" ");
    if (!emoji) continue;
    // Text-presentation selectors (U+FE0F) are dropped: "👍️" and "👍" are one reaction.
    const plain = stripPresentation(emoji);
    for (const name of names) {
      if (!byCode.has(name)) {
        byCode.set(name, plain);
        codes.push(name);
      }
    }
  }
  return byCode;
}

/**
 * An emoji without a trailing emoji-presentation selector, unless it needs one to be
 * shown as an emoji at all (❤️, ☺️: a text-default character alone).
 */
function stripPresentation(emoji: string): string {
  if (!emoji.endsWith("\ufe0f")) return emoji;
  const base = emoji.slice(0, -1);
  return /^\p{Emoji_Presentation}$/u.test(base) ? base : emoji;
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
