/** Rules every Store adapter shares for turning drafts into stream entries. */
import { ProtocolError } from "../../protocol/errors.ts";
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
    case "text":
      return { ...base, kind: "text", text: draft.text, nonce: draft.nonce };
    case "edit":
      return { ...base, kind: "edit", text: draft.text, target: draft.target };
    case "delete":
      return { ...base, kind: "delete", text: "", target: draft.target };
  }
}

/**
 * Check that an edit or delete may apply to `target` (undefined when missing) and
 * return the target as it becomes. Throws ProtocolError.
 */
export function applyToTarget(
  draft: Extract<EntryDraft, { kind: "edit" | "delete" }>,
  target: Message | undefined,
  ts: number,
  guard: EntryGuard | undefined,
): Message {
  if (!target || target.kind !== "text" || target.deleted) {
    throw new ProtocolError("message_not_found", `No message ${draft.target} in "${draft.room}".`);
  }
  guard?.(target);
  if (draft.kind === "edit") return { ...target, text: draft.text, editedAt: ts };
  const { editedAt: _edited, ...rest } = target;
  return { ...rest, text: "", deleted: true };
}

/** Whether an entry counts toward a user's unread messages. */
export function countsAsUnread(entry: Message, userId: string): boolean {
  return entry.kind === "text" && !entry.deleted && entry.author.id !== userId;
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
