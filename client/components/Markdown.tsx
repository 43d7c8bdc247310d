import type { ComponentChildren } from "preact";
import { type Block, type Inline, isJumbo, parseMarkdown } from "../lib/markdown.ts";

interface MarkdownProps {
  text: string;
  /** The message's `mentions` (lower-case names; "room" for @room). */
  mentions?: readonly string[] | undefined;
  /** The viewer's name, lower-case: their mentions stand out. */
  me?: string | undefined;
}

/**
 * A message's Markdown as elements, never as an HTML string. Every string reaches the
 * DOM as a text node; links go only to http(s) and mailto and cannot reach the page.
 */
export function Markdown({ text, mentions, me }: MarkdownProps) {
  const blocks = parseMarkdown(text, mentions);
  const only = blocks.length === 1 && blocks[0]!.t === "p" ? blocks[0]!.c : null;
  if (only) {
    // One paragraph, the common case: no wrapper, so it reads as plain chat text.
    return (
      <span class={isJumbo(blocks) ? "md-line jumbo" : "md-line"}>
        {renderInlines(only, me)}
      </span>
    );
  }
  return <>{blocks.map((block, i) => renderBlock(block, i, me))}</>;
}

function renderBlock(block: Block, key: number, me: string | undefined): ComponentChildren {
  switch (block.t) {
    case "p":
      return <p key={key} class="md-p">{renderInlines(block.c, me)}</p>;
    case "pre":
      return (
        <pre key={key} class="md-pre" dir="ltr">
          <code>{block.text}</code>
        </pre>
      );
    case "quote":
      return (
        <blockquote key={key} class="md-quote">
          {block.c.map((b, i) => renderBlock(b, i, me))}
        </blockquote>
      );
    case "list": {
      const items = block.items.map((item, i) => (
        <li key={i}>{item.map((b, j) => renderBlock(b, j, me))}</li>
      ));
      return block.ordered
        ? <ol key={key} class="md-list" start={block.start}>{items}</ol>
        : <ul key={key} class="md-list">{items}</ul>;
    }
    case "raw":
      return <p key={key} class="md-p md-raw">{block.text}</p>;
  }
}

function renderInlines(parts: readonly Inline[], me: string | undefined): ComponentChildren[] {
  return parts.map((part, i) => renderInline(part, i, me));
}

function renderInline(part: Inline, key: number, me: string | undefined): ComponentChildren {
  switch (part.t) {
    case "text":
      return part.text;
    case "strong":
      return <strong key={key}>{renderInlines(part.c, me)}</strong>;
    case "em":
      return <em key={key}>{renderInlines(part.c, me)}</em>;
    case "del":
      return <del key={key}>{renderInlines(part.c, me)}</del>;
    case "code":
      return <code key={key} class="md-code">{part.text}</code>;
    case "br":
      return <br key={key} />;
    case "link":
      return (
        <a
          key={key}
          href={part.href}
          target="_blank"
          // Bare URLs keep linkify's attributes, as they always had.
          rel={part.bare ? "noopener noreferrer nofollow" : "noopener noreferrer nofollow ugc"}
          title={part.bare ? undefined : part.href}
        >
          {renderInlines(part.c, me)}
        </a>
      );
    case "mention": {
      const strong = part.name === "room" || part.name === me;
      return (
        <bdi
          key={key}
          class={strong ? "mention mention-me" : "mention"}
          data-testid="mention"
          data-mention={part.name}
        >
          {part.text}
        </bdi>
      );
    }
    case "emoji":
      return (
        <span key={key} class="emoji" title={`:${part.code}:`}>
          {part.emoji}
        </span>
      );
  }
}
