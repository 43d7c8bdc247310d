/**
 * The wire protocol's TypeScript types, derived from `schema.ts`. This module
 * exports types only, so importing it costs the client bundle nothing.
 */
import type * as z from "zod";
import type * as S from "./schema.ts";

export type Member = z.infer<typeof S.Member>;
export type Message = z.infer<typeof S.Message>;
export type RoomInfo = z.infer<typeof S.RoomInfo>;
export type Retention = z.infer<typeof S.Retention>;
export type Receipt = z.infer<typeof S.Receipt>;
export type RoomMember = z.infer<typeof S.RoomMember>;
export type Ban = z.infer<typeof S.Ban>;
export type ModerationEvent = z.infer<typeof S.ModerationEvent>;
export type Reaction = z.infer<typeof S.Reaction>;
export type ReplyRef = z.infer<typeof S.ReplyRef>;
export type FileRef = z.infer<typeof S.FileRef>;

/** Every frame a client may send; each carries an `id` and gets exactly one reply. */
export type ClientFrame = z.infer<typeof S.ClientFrame>;
export type RequestType = ClientFrame["type"];
export type RequestOf<T extends RequestType> = Extract<ClientFrame, { type: T }>;
/** A request without its envelope fields, as the client API takes it. */
export type RequestBody<T extends RequestType> = Omit<RequestOf<T>, "type" | "id">;
export type ResultOf<T extends RequestType> = z.infer<(typeof S.Results)[T]>;

export type ErrorBody = z.infer<typeof S.ErrorBody>;
export type ReplyOk = { type: "reply"; id: number; ok: ResultOf<RequestType> };
export type ReplyError = z.infer<typeof S.ReplyError>;
export type ErrorPush = z.infer<typeof S.ErrorPush>;
export type MessagePush = z.infer<typeof S.MessagePush>;
export type PresencePush = z.infer<typeof S.PresencePush>;
export type TypingPush = z.infer<typeof S.TypingPush>;
export type RoomPush = z.infer<typeof S.RoomPush>;
export type ReceiptPush = z.infer<typeof S.ReceiptPush>;
export type ReadPush = z.infer<typeof S.ReadPush>;
export type ModerationPush = z.infer<typeof S.ModerationPush>;
export type RoomRemovedPush = z.infer<typeof S.RoomRemovedPush>;
export type CustomPush = z.infer<typeof S.CustomPush>;
export type CommandInfo = z.infer<typeof S.CommandInfo>;
export type Features = z.infer<typeof S.Features>;

/** Every frame the server may send. Pushes have no `id`. */
export type ServerFrame =
  | ReplyOk
  | ReplyError
  | ErrorPush
  | MessagePush
  | PresencePush
  | TypingPush
  | RoomPush
  | ReceiptPush
  | ReadPush
  | ModerationPush
  | RoomRemovedPush
  | CustomPush;
export type PushFrame = Exclude<ServerFrame, ReplyOk | ReplyError>;
