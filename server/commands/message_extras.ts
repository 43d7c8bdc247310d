/**
 * What a new text message carries beside its text, checked and filled in before the
 * commit: the message it replies to (quoted), an attached file, and its mentions.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS } from "../../protocol/limits.ts";
import type { FileRef, ReplyRef } from "../../protocol/messages.ts";
import type { FileStore } from "../files/types.ts";
import type { Store, TextExtras } from "../store/types.ts";
import type { MentionResolver } from "./mentions.ts";

/** What a sender may ask of a new message beyond its text. */
export interface SendExtras {
  /** Seq of a live text message of the same room. */
  replyTo?: number;
  /** Id of a file the sender uploaded to the same room. */
  file?: string;
}

export interface ExtrasContext {
  store: Store;
  files: FileStore | undefined;
  mentions: MentionResolver;
}

/** Resolve a message's extras; all lookups run together. Throws ProtocolError. */
export async function resolveExtras(
  context: ExtrasContext,
  room: string,
  authorId: string,
  text: string,
  asked: SendExtras | undefined,
  mayMentionRoom: boolean,
): Promise<TextExtras> {
  const [replyTo, file, mentions] = await Promise.all([
    asked?.replyTo === undefined ? undefined : replyRef(context.store, room, asked.replyTo),
    asked?.file === undefined ? undefined : fileRef(context.files, room, authorId, asked.file),
    context.mentions.resolve(text, mayMentionRoom),
  ]);
  const extras: TextExtras = {};
  if (replyTo) extras.replyTo = replyTo;
  if (file) extras.file = file;
  if (mentions.length) extras.mentions = mentions;
  return extras;
}

/** The quote of a reply's original: it must be a live text message of `room`. */
export async function replyRef(store: Store, room: string, seq: number): Promise<ReplyRef> {
  const page = await store.history(room, { after: seq - 1, limit: 1 });
  const original = page.messages[0];
  if (!original || original.seq !== seq || original.kind !== "text" || original.deleted) {
    throw new ProtocolError("message_not_found", `No message ${seq} in #${room} to reply to.`);
  }
  return {
    seq,
    author: { id: original.author.id, name: original.author.name },
    text: excerpt(original.text, LIMITS.replyExcerptChars),
  };
}

/** The start of `text`, at most `max` UTF-16 units, never splitting a surrogate pair. */
export function excerpt(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.charCodeAt(max - 1);
  return text.slice(0, cut >= 0xd800 && cut <= 0xdbff ? max - 1 : max);
}

/** An uploaded file, if the sender uploaded it to this room; else file_not_found. */
export async function fileRef(
  files: FileStore | undefined,
  room: string,
  authorId: string,
  id: string,
): Promise<FileRef> {
  const stored = files ? await files.info(id) : null;
  if (!stored || stored.room !== room || stored.uploader !== authorId) {
    throw new ProtocolError(
      "file_not_found",
      "No such file, or it was not uploaded to this room by you.",
    );
  }
  const { id: fileId, name, type, size, width, height } = stored;
  return {
    id: fileId,
    name,
    type,
    size,
    ...(width === undefined ? {} : { width }),
    ...(height === undefined ? {} : { height }),
  };
}
