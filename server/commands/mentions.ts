/**
 * Mentions: the `@name`s of a new message that name real users, resolved once, when it
 * is sent. `@room` counts only from the room's moderators and owners. The names found
 * are stored lower-case on the message (`mentions`), so unread mention counts and the
 * client's highlighting need no lookups later. An edit keeps the original's mentions.
 */
import { LIMITS } from "../../protocol/limits.ts";
import { MENTION, mentionWord } from "../../protocol/mentions.ts";
import type { UserDirectory } from "./shared.ts";

/** Usernames are 2-32 characters. */
const NAME_MIN = 2;
const NAME_MAX = 32;
/** Candidates looked up per message, so a message full of `@x`s costs a bounded amount. */
const LOOKUPS_MAX = LIMITS.mentionsPerMessage * 2;

/** The distinct lower-case `@name`s of `text`, in order, at most `max`. */
export function mentionTokens(text: string, max = LOOKUPS_MAX): string[] {
  if (!text.includes("@")) return [];
  const names = new Set<string>();
  for (const match of text.matchAll(MENTION)) {
    const name = mentionWord(match[2]!).toLowerCase();
    if (name.length < NAME_MIN || name.length > NAME_MAX) continue;
    names.add(name);
    if (names.size >= max) break;
  }
  return [...names];
}

const FOUND_TTL_MS = 60_000;
/** A name not found may be registered at any moment: forget that sooner. */
const MISSING_TTL_MS = 5_000;
const CACHE_MAX = 10_000;

/** Resolves `@name`s against the user directory, with a short-lived cache per process. */
export class MentionResolver {
  readonly #directory: UserDirectory;
  readonly #now: () => number;
  readonly #known = new Map<string, { found: boolean; at: number }>();

  constructor(directory: UserDirectory, now: () => number) {
    this.#directory = directory;
    this.#now = now;
  }

  /**
   * The names `text` mentions: lower-case usernames of real (not disabled) users, and
   * "room" when `mayMentionRoom`; in order of appearance, at most mentionsPerMessage.
   */
  async resolve(text: string, mayMentionRoom: boolean): Promise<string[]> {
    const tokens = mentionTokens(text);
    if (tokens.length === 0) return [];
    const found = await Promise.all(
      tokens.map((name) => name === "room" ? mayMentionRoom : this.#exists(name)),
    );
    return tokens.filter((_, i) => found[i]).slice(0, LIMITS.mentionsPerMessage);
  }

  async #exists(name: string): Promise<boolean> {
    const now = this.#now();
    const cached = this.#known.get(name);
    if (cached && now - cached.at < (cached.found ? FOUND_TTL_MS : MISSING_TTL_MS)) {
      return cached.found;
    }
    const user = await this.#directory.byName(name);
    // Only a user whose name is exactly this one (any case) is mentioned.
    const found = user !== null && user.user.name.toLowerCase() === name;
    if (this.#known.size >= CACHE_MAX) this.#known.clear();
    this.#known.set(name, { found, at: now });
    return found;
  }
}
