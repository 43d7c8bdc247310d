/** Rules every Store adapter shares for turning drafts into stream entries. */
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS } from "../../protocol/limits.ts";
import { tombstone, withReaction } from "../../protocol/entries.ts";
import type { Message } from "../../protocol/messages.ts";
import type { EntryDraft, EntryGuard, RoomPatch, RoomRecord } from "./types.ts";

/** A stable, unique id: the room's seq is unique within an epoch. */
export function entryId(epoch: string, room: string, seq: number): string {
  return `${room}:${seq}:${epoch.slice(0, 8)}`;
}

/** The entry `draft` becomes at `seq`. */
export function makeEntry(draft: EntryDraft, seq: number, ts: number, epoch: string): Message {
  const base = {
    id: entryId(epoch, draft.room, seq),
    room: draft.room,
    seq,
    author: { id: draft.author.id, name: draft.author.name },
    ts,
  };
  switch (draft.kind) {
    case "text": {
      const message: Message = { ...base, kind: "text", text: draft.text, nonce: draft.nonce };
      if (draft.replyTo) message.replyTo = draft.replyTo;
      if (draft.mentions?.length) message.mentions = draft.mentions;
      if (draft.file) message.file = draft.file;
      return message;
    }
    case "edit":
      return { ...base, kind: "edit", text: draft.text, target: draft.target };
    case "delete":
      return { ...base, kind: "delete", text: "", target: draft.target };
    case "react": {
      const message: Message = {
        ...base,
        kind: "react",
        text: "",
        target: draft.target,
        emoji: draft.emoji,
      };
      if (draft.remove) message.remove = true;
      return message;
    }
  }
}

/**
 * Check that an edit or delete may apply to `target` (undefined when missing) and
 * return the target as it becomes. Throws ProtocolError.
 */
export function applyToTarget(
  draft: Extract<EntryDraft, { kind: "edit" | "delete" | "react" }>,
  target: Message | undefined,
  ts: number,
  guard: EntryGuard | undefined,
): Message {
  if (!target || target.kind !== "text" || target.deleted) {
    throw new ProtocolError("message_not_found", `No message ${draft.target} in "${draft.room}".`);
  }
  guard?.(target);
  if (draft.kind === "edit") return { ...target, text: draft.text, editedAt: ts };
  if (draft.kind === "delete") return tombstone(target);
  const next = withReaction(target, draft.author, draft.emoji, draft.remove === true);
  if (!next) throw tooMany();
  return next;
}

function tooMany(): ProtocolError {
  return new ProtocolError(
    "too_many_reactions",
    `A message holds at most ${LIMITS.reactionsPerMessage} emoji, ` +
      `each from at most ${LIMITS.reactorsPerEmoji} people.`,
  );
}

/** Whether an entry counts toward a user's unread messages. */
export function countsAsUnread(entry: Message, userId: string): boolean {
  return entry.kind === "text" && !entry.deleted && entry.author.id !== userId;
}

/** Whether a text entry mentions any of `names` (lower-case; "room" for @room). */
export function mentionsAny(entry: Message, names: readonly string[]): boolean {
  return entry.mentions?.some((name) => names.includes(name)) ?? false;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A room record with `patch` applied: undefined fields stay, a null retention is removed. */
export function applyRoomPatch<R extends Omit<RoomRecord, "lastSeq">>(
  record: R,
  patch: RoomPatch,
): R {
  const next: R = { ...record };
  if (patch.title !== undefined) next.title = patch.title;
  if (patch.topic !== undefined) next.topic = patch.topic;
  if (patch.receipts !== undefined) next.receipts = patch.receipts;
  if (patch.disabled === true) next.disabled = true;
  if (patch.disabled === false) delete next.disabled;
  if (patch.retention === null) delete next.retention;
  else if (patch.retention) next.retention = patch.retention;
  return next;
}
