/**
 * A word filter: a `beforeSend` hook that masks listed words and refuses messages that
 * are mostly shouting. Run it as a server with `deno run -A examples/word_filter.ts`.
 *
 * @module
 */
import { createChatServer, type Hooks } from "../mod.ts";

/** Mask each listed word (whole words, any case) with asterisks; refuse all-caps rants. */
export function wordFilter(words: string[]): Hooks {
  const pattern = new RegExp(`\\b(${words.map(escape).join("|")})\\b`, "giu");
  return {
    beforeSend(message) {
      const letters = message.text.replace(/[^\p{L}]/gu, "");
      if (letters.length >= 12 && letters === letters.toUpperCase()) {
        return Promise.resolve({ refuse: "Please don't shout." });
      }
      const text = message.text.replace(pattern, (word) => "*".repeat(word.length));
      return Promise.resolve(text === message.text ? undefined : { text });
    },
  };
}

function escape(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

if (import.meta.main) {
  const chat = await createChatServer({
    data: Deno.env.get("PARLEY_DATA") ?? "./data",
    hooks: wordFilter(["darn", "heck"]),
  });
  Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8000) }, chat.fetch);
}
