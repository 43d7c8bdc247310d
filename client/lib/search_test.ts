import { deepEqual, equal } from "node:assert/strict";
import { dayStart, excerpt, hasCriteria, highlight, searchBody, searchTerms } from "./search.ts";

Deno.test("searchTerms: lower-case words, each once", () => {
  deepEqual(searchTerms("Deploy the  deploy, Friday!"), ["deploy", "the", "friday"]);
  deepEqual(searchTerms("  "), []);
});

Deno.test("highlight marks whole words in any case", () => {
  deepEqual(highlight("Deploy on deployment day: DEPLOY", ["deploy"]), [
    { text: "Deploy", mark: true },
    { text: " on deployment day: ", mark: false },
    { text: "DEPLOY", mark: true },
  ]);
  deepEqual(highlight("a.b (x)", ["a.b"]), [{ text: "a.b", mark: true }, {
    text: " (x)",
    mark: false,
  }]);
  deepEqual(highlight("plain", []), [{ text: "plain", mark: false }]);
});

Deno.test("excerpt keeps short text and centres long text on the first hit", () => {
  equal(excerpt("short\n text", ["x"]), "short text");
  const long = `${"a ".repeat(200)}needle ${"b ".repeat(200)}`;
  const cut = excerpt(long, ["needle"], 60);
  equal(cut.includes("needle"), true);
  equal(cut.startsWith("…") && cut.endsWith("…"), true);
  equal(cut.length <= 62, true);
});

Deno.test("searchBody: room only when asked, dates as local days, to inclusive", () => {
  const form = { text: " hello ", here: true, from: "2026-03-01", to: "2026-03-02" };
  const body = searchBody(form, "lounge", "c1");
  equal(body.text, "hello");
  equal(body.room, "lounge");
  equal(body.cursor, "c1");
  equal(body.from, new Date(2026, 2, 1).getTime());
  equal(body.to, new Date(2026, 2, 2).getTime() + 86_400_000);
  deepEqual(searchBody({ text: "", here: false, from: "", to: "" }, "lounge"), {});
  equal(dayStart("nope"), undefined);
  equal(hasCriteria({ text: "", here: true, from: "", to: "" }), false);
  equal(hasCriteria({ text: "", here: true, author: "u1", from: "", to: "" }), true);
});
