import { linkify } from "../lib/linkify.ts";

/** Chat text as text nodes, with http(s) URLs as links that cannot reach back into the page. */
export function LinkifiedText({ text }: { text: string }) {
  return (
    <>
      {linkify(text).map((part, i) =>
        part.href
          ? (
            <a key={i} href={part.href} target="_blank" rel="noopener noreferrer nofollow">
              {part.text}
            </a>
          )
          : part.text
      )}
    </>
  );
}
