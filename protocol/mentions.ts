/** How `@name` is found in text: the server resolves mentions by it, the client highlights by it. */

/** An `@` not preceded by a name character (so `ada@example.com` is no mention), then a name. */
export const MENTION = /(^|[^\p{L}\p{N}_.@-])@([\p{L}\p{N}._-]{1,64})/gu;

/** The name in a match's second group: "@bob." ends a sentence, so trailing dots and dashes go. */
export function mentionWord(raw: string): string {
  return raw.replace(/[.-]+$/, "");
}
