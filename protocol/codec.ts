/** Decoding of inbound client frames: JSON, size, then schema, each failure with its code. */
import type * as z from "zod";
import type { ErrorCode } from "./errors.ts";
import { exceedsBytes, LIMITS, ROOM_NAME_PATTERN } from "./limits.ts";
import type { ClientFrame as ClientFrameType } from "./messages.ts";
import { ClientFrame, NONCE_MIN_CHARS, REQUEST_ID_MAX } from "./schema.ts";

/** An application-defined frame ("x.…"), checked against its registered schema. */
export interface CustomClientFrame {
  type: string;
  id: number;
  [field: string]: unknown;
}

export type Decoded =
  | { ok: true; frame: ClientFrameType; custom?: false }
  | { ok: true; frame: CustomClientFrame; custom: true }
  | { ok: false; id: number | null; code: ErrorCode; message: string };

const KNOWN_TYPES = new Set<string>(ClientFrame.options.map((o) => o.shape.type.value));

/** Decode one inbound WebSocket message, built-in or one of `custom`. Never throws. */
export function decodeClientFrame(
  raw: string,
  maxBytes: number = LIMITS.frameBytes,
  custom?: ReadonlyMap<string, { schema: z.ZodType }>,
): Decoded {
  if (exceedsBytes(raw, maxBytes)) {
    return fail(null, "frame_too_large", `Frames are limited to ${maxBytes} bytes.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return fail(null, "bad_json", "The frame is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(null, "invalid_frame", "A frame must be a JSON object.");
  }
  const record = value as Record<string, unknown>;
  // An id the schema would refuse is not echoed: a reply carrying it would not be a valid frame.
  const id = Number.isSafeInteger(record.id) && (record.id as number) >= 0 &&
      (record.id as number) <= REQUEST_ID_MAX
    ? record.id as number
    : null;
  if (typeof record.type !== "string") {
    return fail(id, "invalid_frame", "A frame needs a string `type`.");
  }
  const extra = custom?.get(record.type);
  if (extra) {
    const parsed = extra.schema.safeParse(value);
    if (parsed.success) return { ok: true, frame: parsed.data as CustomClientFrame, custom: true };
    const issue = parsed.error.issues[0]!;
    return fail(id, "invalid_frame", describeIssue(issue));
  }
  if (!KNOWN_TYPES.has(record.type)) {
    return fail(id, "unknown_type", `Unknown frame type "${record.type.slice(0, 40)}".`);
  }
  if (record.type === "send") {
    const frame = sureSend(record);
    if (frame) return { ok: true, frame };
  }
  const parsed = ClientFrame.safeParse(value);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const issue = parsed.error.issues[0]!;
  return fail(id, codeForIssue(issue), describeIssue(issue));
}

/**
 * The most frequent frame, checked by hand against the same limits as its schema: a
 * frame that is surely valid skips zod's allocations. Anything else, valid or not, goes
 * on to the schema, which has the error codes and texts. A test holds the two equal.
 */
function sureSend(r: Record<string, unknown>): ClientFrameType | undefined {
  let keys = 0;
  for (const _ in r) keys++;
  const { id, room, text, nonce } = r;
  if (
    keys === 5 && typeof id === "number" && Number.isInteger(id) && id >= 0 &&
    id <= REQUEST_ID_MAX && typeof room === "string" && ROOM_NAME_PATTERN.test(room) &&
    typeof text === "string" && text.length <= LIMITS.messageChars && text.trim().length > 0 &&
    typeof nonce === "string" && nonce.length >= NONCE_MIN_CHARS &&
    nonce.length <= LIMITS.nonceChars
  ) return { type: "send", id, room, text, nonce };
  return undefined;
}

function codeForIssue(issue: z.core.$ZodIssue): ErrorCode {
  // A missing or mistyped field is a malformed frame; a bad value gets its own code.
  if (issue.code === "invalid_type") return "invalid_frame";
  const field = issue.path[0];
  if (field === "text") return issue.code === "too_big" ? "text_too_long" : "text_empty";
  if (field === "room") return "invalid_room_name";
  return "invalid_frame";
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length ? issue.path.join(".") : "frame";
  if (issue.code === "unrecognized_keys") return `Unexpected field(s): ${issue.keys.join(", ")}.`;
  return `${where}: ${issue.message}`;
}

function fail(id: number | null, code: ErrorCode, message: string): Decoded {
  return { ok: false, id, code, message };
}
