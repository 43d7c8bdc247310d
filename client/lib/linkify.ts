/** Splits chat text into plain and link parts, so links render as anchors and the rest as text. */

export type TextPart = { text: string; href?: string };

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
/** Punctuation that usually ends the sentence around a URL rather than the URL itself. */
const TRAILING = /[.,;:!?'*]+$/;

export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    if (!/^https?:\/\/[^/?#]/i.test(url)) continue;
    const start = match.index;
    if (start > last) parts.push({ text: text.slice(last, start) });
    parts.push({ text: url, href: url });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

function trimUrl(url: string): string {
  let out = url.replace(TRAILING, "");
  // Keep ")" that closes a "(" inside the URL (Wikipedia style), drop the rest.
  while (out.endsWith(")") && count(out, "(") < count(out, ")")) {
    out = out.slice(0, -1).replace(TRAILING, "");
  }
  return out;
}

function count(s: string, ch: string): number {
  return s.split(ch).length - 1;
}
