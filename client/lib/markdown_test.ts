import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { Markdown } from "../components/Markdown.tsx";
import { isJumbo, parseMarkdown, plainText, safeHref } from "./markdown.ts";

const html = (text: string, mentions?: string[], me?: string) =>
  renderToString(h(Markdown, { text, mentions, me }));

Deno.test("markdown: the chat subset renders as elements", () => {
  equal(
    html("**bold** *it* ~~gone~~ `a<b`"),
    '<span class="md-line"><strong>bold</strong> <em>it</em> <del>gone</del> ' +
      '<code class="md-code">a&lt;b</code></span>',
  );
  equal(
    html("> quoted\n\n```\nif (a < b) {}\n```"),
    '<blockquote class="md-quote"><p class="md-p">quoted</p></blockquote>' +
      '<pre class="md-pre" dir="ltr"><code>if (a &lt; b) {}</code></pre>',
  );
  equal(
    html("- one\n- two\n\n3. three"),
    '<ul class="md-list"><li><p class="md-p">one</p></li><li><p class="md-p">two</p></li></ul>' +
      '<ol class="md-list" start="3"><li><p class="md-p">three</p></li></ol>',
  );
  equal(html("line one\nline two"), '<span class="md-line">line one<br/>line two</span>');
  equal(
    html("[docs](https://example.com/d) and <https://x.org>"),
    '<span class="md-line"><a href="https://example.com/d" target="_blank" ' +
      'rel="noopener noreferrer nofollow ugc" title="https://example.com/d">docs</a> and ' +
      '<a href="https://x.org/" target="_blank" rel="noopener noreferrer nofollow ugc" ' +
      'title="https://x.org/">https://x.org</a></span>',
  );
});

Deno.test("markdown: no link inside a link", () => {
  const out = html("[https://a.example](https://b.example)");
  equal((out.match(/<a /g) ?? []).length, 1);
  ok(out.includes('href="https://b.example/"'));
});

Deno.test("markdown: bare URLs keep linkify's rules and attributes", () => {
  equal(
    html("see https://example.com/docs. or www.example.com, or a@b.com"),
    '<span class="md-line">see <a href="https://example.com/docs" target="_blank" ' +
      'rel="noopener noreferrer nofollow">https://example.com/docs</a>. or www.example.com, ' +
      "or a@b.com</span>",
  );
  // The same with Markdown around it, through the lexer.
  ok(html("**see** https://example.com/x").includes('href="https://example.com/x"'));
});

Deno.test("markdown: hostile input is inert text", () => {
  const cases: [string, string][] = [
    ["<script>alert(1)</script>", "&lt;script>alert(1)&lt;/script>"],
    ['<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&quot;alert(1)&quot;>"],
    ["[click](javascript:alert(1))", "[click](javascript:alert(1))"],
    ["[x](JaVaScRiPt:alert(1))", "[x](JaVaScRiPt:alert(1))"],
    ["[x](data:text/html,<script>alert(1)</script>)", "[x](data:text/html,"],
    ["[x](vbscript:msgbox)", "[x](vbscript:msgbox)"],
    ['<a href="javascript:alert(1)">x</a>', "&lt;a href="],
    ["![pic](https://e.com/p.png)", '<a href="https://e.com/p.png"'],
    ["hi <b>there</b> &lt;", "hi &lt;b>there&lt;/b> &amp;lt;"],
  ];
  for (const [input, expected] of cases) {
    const out = html(input);
    ok(out.includes(expected), `${input} → ${out}`);
    ok(!/<(script|img|iframe|object|svg|style)\b/i.test(out), `${input} → ${out}`);
    ok(!/<[a-z][^<>]*\son\w+=/i.test(out), `${input} → ${out}`);
    ok(!/href="(?!https?:|mailto:)/i.test(out), `${input} → ${out}`);
  }
});

Deno.test("markdown: bidi controls and zero-width characters are dropped", () => {
  equal(html("abc\u202edcba\u202c ok"), '<span class="md-line">abcdcba ok</span>');
  equal(html("pay\u200bpal\u2066x\u2069\ufeff"), '<span class="md-line">paypalx</span>');
  // Joiners inside emoji stay: 👩‍💻 is one emoji.
  equal(plainText(parseMarkdown("👩\u200d💻")), "👩\u200d💻");
});

Deno.test("markdown: huge and deeply nested input stays bounded", () => {
  const word = "a".repeat(4000);
  equal(html(word), `<span class="md-line">${word}</span>`);
  const deep = "> ".repeat(1500) + "deep";
  const start = performance.now();
  const out = html(deep);
  ok(performance.now() - start < 5000);
  ok(out.includes("deep"));
  ok((out.match(/<blockquote/g) ?? []).length <= 7);
  const list = Array.from({ length: 300 }, (_, i) => " ".repeat(i * 2) + "- x").join("\n");
  ok(html(list).includes("x"));
  ok(html("*".repeat(4000)).length > 0);
  ok(html("[".repeat(2000) + "](".repeat(1000)).length > 0);
});

Deno.test("markdown: only the message's mentions are mentions; the viewer's stand out", () => {
  equal(
    html("hi @Bob and @carol, @room!", ["bob", "room"], "ada"),
    '<span class="md-line">hi <bdi class="mention" data-testid="mention" data-mention="bob">' +
      '@Bob</bdi> and @carol, <bdi class="mention mention-me" data-testid="mention" ' +
      'data-mention="room">@room</bdi>!</span>',
  );
  ok(html("ping @bob.", ["bob"], "bob").includes('class="mention mention-me"'));
  ok(!html("mail bob@bob.com", ["bob"]).includes("mention"));
  ok(!html("`@bob`", ["bob"]).includes("mention"));
});

Deno.test("markdown: :shortcodes: become emoji outside code", () => {
  equal(
    html("ship it :rocket: `:rocket:` :nope:"),
    '<span class="md-line">ship it <span class="emoji" title=":rocket:">🚀</span> ' +
      '<code class="md-code">:rocket:</code> :nope:</span>',
  );
  ok(isJumbo(parseMarkdown(":tada: :tada:")));
  ok(isJumbo(parseMarkdown("🎉👍")));
  ok(!isJumbo(parseMarkdown("🎉 yay")));
  ok(!isJumbo(parseMarkdown("123")));
});

Deno.test("markdown: headings, rules, tables and definitions show as typed", () => {
  deepStrictEqual(parseMarkdown("# Title"), [{ t: "raw", text: "# Title" }]);
  deepStrictEqual(parseMarkdown("---"), [{ t: "raw", text: "---" }]);
  ok(html("| a | b |\n|---|---|\n| 1 | 2 |").includes("| a | b |"));
  ok(html("[r]: https://x.com\n\n[r]").includes("[r]: https://x.com"));
});

Deno.test("safeHref allows only absolute http(s) and mailto", () => {
  equal(safeHref("https://e.com/a b"), "https://e.com/a%20b");
  equal(safeHref("mailto:a@b.c"), "mailto:a@b.c");
  equal(safeHref("javascript:alert(1)"), null);
  equal(safeHref(" javascript:alert(1)"), null);
  equal(safeHref("/relative"), null);
  equal(safeHref("http:///x"), "http://x/");
  equal(safeHref("file:///etc/passwd"), null);
});
