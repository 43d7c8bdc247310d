/**
 * How a reaction or a deletion changes the text message it targets. The store and the
 * web client both fold entries with these, so a live push, a reconnect's replay and a
 * history page show the same message.
 */
import { LIMITS } from "./limits.ts";
import type { Member, Message } from "./messages.ts";

/** A tombstone keeps nothing of what was said: no text, reactions, mentions or file. */
export function tombstone(target: Message): Message {
  const {
    editedAt: _edited,
    reactions: _reactions,
    mentions: _mentions,
    file: _file,
    ...rest
  } = target;
  return { ...rest, text: "", deleted: true };
}

/**
 * `target` with `user`'s `emoji` added or taken back. A repeat changes nothing and returns
 * `target` itself. Past LIMITS' reaction caps it returns null (the store refuses it).
 */
export function withReaction(
  target: Message,
  user: Member,
  emoji: string,
  remove: boolean,
): Message | null {
  const reactions = target.reactions ?? [];
  const at = reactions.findIndex((r) => r.emoji === emoji);
  const who = { id: user.id, name: user.name };
  let next: NonNullable<Message["reactions"]>;
  if (remove) {
    if (at < 0) return target;
    const users = reactions[at]!.users.filter((u) => u.id !== who.id);
    if (users.length === reactions[at]!.users.length) return target;
    next = users.length
      ? reactions.map((r, i) => i === at ? { emoji, users } : r)
      : reactions.filter((_, i) => i !== at);
  } else if (at < 0) {
    if (reactions.length >= LIMITS.reactionsPerMessage) return null;
    next = [...reactions, { emoji, users: [who] }];
  } else {
    const users = reactions[at]!.users;
    if (users.some((u) => u.id === who.id)) return target;
    if (users.length >= LIMITS.reactorsPerEmoji) return null;
    next = reactions.map((r, i) => i === at ? { emoji, users: [...users, who] } : r);
  }
  const { reactions: _old, ...rest } = target;
  return next.length ? { ...rest, reactions: next } : rest;
}
