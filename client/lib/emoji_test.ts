import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { emojiFor, FREQUENT_EMOJI, replaceShortcodes, searchShortcodes } from "./emoji.ts";

Deno.test("emoji: shortcodes resolve, without a redundant presentation selector", () => {
  equal(emojiFor("tada"), "🎉");
  equal(emojiFor("+1"), "👍");
  equal(emojiFor("thumbsup"), "👍");
  equal(emojiFor("heart"), "❤️");
  equal(emojiFor("TADA"), "🎉");
  equal(emojiFor("no_such_thing"), undefined);
  for (const { shortcode, emoji } of FREQUENT_EMOJI) equal(emojiFor(shortcode), emoji, shortcode);
});

Deno.test("emoji: search by prefix, shortest first, then by substring", async () => {
  const found = await searchShortcodes("smi", 5);
  equal(found.length, 5);
  ok(found.every((m) => m.shortcode.startsWith("smi")));
  equal(found[0]!.shortcode, "smile");
  deepStrictEqual(await searchShortcodes(":tada", 1), [{ shortcode: "tada", emoji: "🎉" }]);
  ok((await searchShortcodes("check_mark", 10)).some((m) => m.shortcode === "white_check_mark"));
  equal((await searchShortcodes("", 3)).length, 3);
  deepStrictEqual(await searchShortcodes("zzzzqqq", 5), []);
  deepStrictEqual(await searchShortcodes("a", 0), []);
});

Deno.test("emoji: known :shortcodes: in text become emoji, the rest stays", () => {
  equal(replaceShortcodes("ship it :rocket: :nope: at 10:30:00"), "ship it 🚀 :nope: at 10:30:00");
  equal(replaceShortcodes("no colons"), "no colons");
});
