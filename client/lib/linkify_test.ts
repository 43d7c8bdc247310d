import { deepStrictEqual } from "node:assert/strict";
import { linkify } from "./linkify.ts";

Deno.test("linkify leaves plain text alone", () => {
  deepStrictEqual(linkify("hello <b>world</b>"), [{ text: "hello <b>world</b>" }]);
});

Deno.test("linkify finds http(s) URLs and trims sentence punctuation", () => {
  deepStrictEqual(linkify("see https://example.com/a?b=1. and http://x.org!"), [
    { text: "see " },
    { text: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
    { text: ". and " },
    { text: "http://x.org", href: "http://x.org" },
    { text: "!" },
  ]);
});

Deno.test("linkify keeps balanced parentheses and drops an enclosing one", () => {
  const wiki = "https://en.wikipedia.org/wiki/Deno_(software)";
  deepStrictEqual(linkify(`(${wiki})`), [
    { text: "(" },
    { text: wiki, href: wiki },
    { text: ")" },
  ]);
});

Deno.test("linkify ignores other schemes and empty hosts", () => {
  deepStrictEqual(linkify("javascript:alert(1) https://."), [
    { text: "javascript:alert(1) https://." },
  ]);
});
