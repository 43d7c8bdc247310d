/**
 * Chat Markdown, safely: `marked`'s lexer splits the text into tokens and this module keeps
 * a small, known subset of them (bold, italic, strike, inline code, code blocks, quotes,
 * lists, links) as plain data that components/Markdown.tsx turns into elements. No HTML
 * string is ever produced: raw HTML, unknown tokens and unsafe links come out as the text
 * that was typed. Mentions and `:shortcodes:` are found in the text parts only.
 */
import { Lexer, type Token, type Tokens } from "marked";
import { emojiFor } from "./emoji.ts";
import { linkify } from "./linkify.ts";
import { MENTION, mentionWord } from "../../protocol/mentions.ts";

export type Inline =
  | { t: "text"; text: string }
  | { t: "strong" | "em" | "del"; c: Inline[] }
  | { t: "code"; text: string }
  /** `bare`: a URL written as is (linkify's rules), not `[text](url)` or `<url>`. */
  | { t: "link"; href: string; c: Inline[]; bare?: true }
  | { t: "br" }
  /** A real mention (the message's `mentions` list has `name`, lower-case). */
  | { t: "mention"; name: string; text: string }
  | { t: "emoji"; emoji: string; code: string };

export type Block =
  | { t: "p"; c: Inline[] }
  | { t: "pre"; text: string }
  | { t: "quote"; c: Block[] }
  | { t: "list"; ordered: boolean; start: number; items: Block[][] }
  /** Shown exactly as typed: headings, tables, raw HTML, anything unknown. */
  | { t: "raw"; text: string };

/**
 * Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) can
 * make text read differently from what it is ("Trojan Source"); zero-width spaces, word
 * joiners and BOMs hide inside names and URLs. None is needed to write chat text.
 */
// deno-lint-ignore no-control-regex
const INVISIBLE = /[\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff\u0000]/g;
/** Nothing Markdown would act on (one line, no markup, no list number): no lexer needed. */
const PLAIN = /^(?![\s\d])[^*_~`>#[\]!<\\|=+\-\n]*(?<!\s)$/;
/** Quotes and lists nested deeper than this show their text as typed. */
const MAX_DEPTH = 6;
const SHORTCODE = /:([a-z0-9_+-]{1,64}):/gi;
const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const CACHE_MAX = 2000;

const lexer = () => new Lexer({ gfm: true, breaks: true });
const cache = new Map<string, Block[]>();

/**
 * `text` as blocks. `mentions` is the message's list (lower-case names, "room" for @room):
 * only those `@name`s become mentions. Results are cached, so re-rendering is cheap.
 */
export function parseMarkdown(text: string, mentions: readonly string[] = []): Block[] {
  const key = mentions.length ? `${mentions.join(" ")}\n${text}` : text;
  const hit = cache.get(key);
  if (hit) return hit;
  const blocks = parse(text, mentions);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, blocks);
  return blocks;
}

function parse(input: string, mentions: readonly string[]): Block[] {
  const text = stripInvisible(input);
  const ctx: Ctx = { mentions: new Set(mentions) };
  if (PLAIN.test(text)) return [{ t: "p", c: textParts(text, ctx) }];
  let tokens: Token[];
  try {
    tokens = lexer().lex(text);
  } catch {
    return [{ t: "raw", text }];
  }
  return blocks(tokens, ctx, 0);
}

/** `text` without bidi controls and zero-width characters (see INVISIBLE). */
export function stripInvisible(text: string): string {
  return text.replace(INVISIBLE, "");
}

interface Ctx {
  mentions: ReadonlySet<string>;
  /** Inside a link's text: no links or mentions within it. */
  inLink?: boolean;
}

function blocks(tokens: readonly Token[], ctx: Ctx, depth: number): Block[] {
  const out: Block[] = [];
  for (const token of tokens) {
    const block = toBlock(token, ctx, depth);
    if (block) out.push(block);
  }
  return out;
}

function toBlock(token: Token, ctx: Ctx, depth: number): Block | null {
  switch (token.type) {
    case "space":
      return null;
    case "paragraph":
    case "text": {
      const t = token as Tokens.Paragraph | Tokens.Text;
      return { t: "p", c: t.tokens ? inlines(t.tokens, ctx) : textParts(t.text, ctx) };
    }
    case "code":
      return { t: "pre", text: (token as Tokens.Code).text };
    case "blockquote":
      if (depth >= MAX_DEPTH) break;
      return { t: "quote", c: blocks((token as Tokens.Blockquote).tokens, ctx, depth + 1) };
    case "list": {
      if (depth >= MAX_DEPTH) break;
      const list = token as Tokens.List;
      const start = typeof list.start === "number" && list.start >= 0 ? list.start : 1;
      return {
        t: "list",
        ordered: list.ordered,
        start: Math.min(start, 1e9),
        items: list.items.map((item) => {
          const inner = blocks(item.tokens, ctx, depth + 1);
          if (!item.task) return inner;
          const box: Inline = { t: "text", text: item.checked ? "☑ " : "☐ " };
          const first = inner[0];
          if (first?.t === "p") return [{ t: "p", c: [box, ...first.c] }, ...inner.slice(1)];
          return [{ t: "p", c: [box] }, ...inner];
        }),
      };
    }
  }
  // Headings, rules, tables, link definitions, raw HTML, and whatever comes next: as typed.
  const raw = token.raw.replace(/\n+$/, "");
  return raw.trim() === "" ? null : { t: "raw", text: raw };
}

function inlines(tokens: readonly Token[], ctx: Ctx): Inline[] {
  const out: Inline[] = [];
  for (const token of tokens) out.push(...toInline(token, ctx));
  return out;
}

function toInline(token: Token, ctx: Ctx): Inline[] {
  switch (token.type) {
    case "text": {
      const t = token as Tokens.Text;
      if (t.tokens?.length) return inlines(t.tokens, ctx);
      return textParts(t.escaped ? unescapeHtml(t.text) : t.text, ctx);
    }
    case "escape":
      return [{ t: "text", text: (token as Tokens.Escape).text }];
    case "strong":
    case "em":
    case "del":
      return [{ t: token.type, c: inlines((token as Tokens.Strong).tokens, ctx) }];
    case "codespan":
      return [{ t: "code", text: (token as Tokens.Codespan).text }];
    case "br":
      return [{ t: "br" }];
    case "link": {
      const link = token as Tokens.Link;
      // No link inside a link: GFM finds URLs in `[https://a](https://b)` too.
      if (ctx.inLink) return inlines(link.tokens, ctx);
      // A URL written as is (GFM autolink): linkify decides, as it always has.
      if (!/^[[<]/.test(link.raw)) return textParts(link.raw, ctx);
      const href = safeHref(link.href);
      if (!href) return [{ t: "text", text: link.raw }];
      const c = inlines(link.tokens, { ...ctx, inLink: true });
      return [{ t: "link", href, c: c.length ? c : [{ t: "text", text: href }] }];
    }
    case "image": {
      // Never an <img>: a link to it, named by its alt text.
      const image = token as Tokens.Image;
      const href = safeHref(image.href);
      if (!href) return [{ t: "text", text: image.raw }];
      return [{ t: "link", href, c: [{ t: "text", text: image.text || href }] }];
    }
  }
  // Inline HTML ("<b>"), checkboxes, anything unknown: the text as typed.
  return [{ t: "text", text: token.raw }];
}

/** `href` if it is an absolute http(s) or mailto URL, normalised; otherwise null. */
export function safeHref(href: string): string | null {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if (!SAFE_SCHEMES.has(url.protocol)) return null;
  if (url.protocol !== "mailto:" && !url.hostname) return null;
  return url.href;
}

/** Plain text: bare URLs become links, known `@names` mentions, `:codes:` emoji. */
function textParts(text: string, ctx: Ctx): Inline[] {
  const out: Inline[] = [];
  if (ctx.inLink) {
    emojiParts(text, out);
    return out;
  }
  for (const part of linkify(text)) {
    if (part.href) {
      const href = safeHref(part.href);
      if (href) {
        out.push({ t: "link", href: part.href, c: [{ t: "text", text: part.text }], bare: true });
      } else out.push({ t: "text", text: part.text });
    } else mentionParts(part.text, ctx, out);
  }
  return out;
}

function mentionParts(text: string, ctx: Ctx, out: Inline[]): void {
  if (!text.includes("@") || ctx.mentions.size === 0) return emojiParts(text, out);
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    const word = mentionWord(match[2]!);
    const name = word.toLowerCase();
    if (!ctx.mentions.has(name)) continue;
    const at = match.index + match[1]!.length;
    emojiParts(text.slice(last, at), out);
    out.push({ t: "mention", name, text: `@${word}` });
    last = at + 1 + word.length;
  }
  emojiParts(text.slice(last), out);
}

function emojiParts(text: string, out: Inline[]): void {
  if (text === "") return;
  if (!text.includes(":")) {
    pushText(out, text);
    return;
  }
  let last = 0;
  for (const match of text.matchAll(SHORTCODE)) {
    const emoji = emojiFor(match[1]!);
    if (!emoji) continue;
    pushText(out, text.slice(last, match.index));
    out.push({ t: "emoji", emoji, code: match[1]!.toLowerCase() });
    last = match.index + match[0].length;
  }
  pushText(out, text.slice(last));
}

function pushText(out: Inline[], text: string): void {
  if (text === "") return;
  const prev = out.at(-1);
  if (prev?.t === "text") out[out.length - 1] = { t: "text", text: prev.text + text };
  else out.push({ t: "text", text });
}

function unescapeHtml(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e]!,
  );
}

/** Only emoji (at most a few) and spaces: shown large, as chat apps do. */
export function isJumbo(blocks: readonly Block[]): boolean {
  if (blocks.length !== 1 || blocks[0]!.t !== "p") return false;
  let count = 0;
  for (const part of blocks[0]!.c) {
    if (part.t === "emoji") count++;
    else if (part.t === "text") {
      const stripped = part.text.replace(/\s+/g, "");
      if (stripped === "") continue;
      if (
        !/^(\p{Extended_Pictographic}|\p{Emoji_Component}|\p{Emoji_Modifier}|\u200d|\ufe0f)+$/u
          .test(stripped) || /^[\d#*]+$/.test(stripped)
      ) return false;
      count += [...new Intl.Segmenter().segment(stripped)].length;
    } else return false;
  }
  return count > 0 && count <= 6;
}

/** The text of `blocks` without formatting, e.g. for a reply's one-line excerpt. */
export function plainText(blocks: readonly Block[]): string {
  return blocks.map(blockText).join(" ").replace(/\s+/g, " ").trim();
}

function blockText(block: Block): string {
  switch (block.t) {
    case "p":
      return block.c.map(inlineText).join("");
    case "pre":
    case "raw":
      return block.text;
    case "quote":
      return plainText(block.c);
    case "list":
      return block.items.map(plainText).join(" ");
  }
}

function inlineText(part: Inline): string {
  switch (part.t) {
    case "text":
    case "code":
    case "mention":
      return part.text;
    case "emoji":
      return part.emoji;
    case "br":
      return " ";
    default:
      return part.c.map(inlineText).join("");
  }
}
