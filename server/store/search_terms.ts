/** How text becomes search terms: the one rule every Store's search index follows. */

/** Most terms one message is indexed under; the rest of a long text is not searchable. */
export const MAX_TERMS_PER_MESSAGE = 200;
/** Longer "words" (hashes, base64) are not indexed. */
export const MAX_TERM_CHARS = 40;

const WORD = /[\p{L}\p{N}\p{M}]+/gu;

/** The distinct lower-case words of `text`, in order of first appearance. */
export function searchTerms(text: string): string[] {
  const terms = new Set<string>();
  for (const match of text.normalize("NFKC").toLowerCase().matchAll(WORD)) {
    const word = match[0];
    if (word.length > MAX_TERM_CHARS) continue;
    terms.add(word);
    if (terms.size >= MAX_TERMS_PER_MESSAGE) break;
  }
  return [...terms];
}
