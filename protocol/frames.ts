/**
 * Framing helpers shared by both sides, free of the schema library so that the
 * client bundle stays small. The server may coalesce several frames into one
 * WebSocket message as a JSON array; receivers accept both forms.
 */
import type { ServerFrame } from "./messages.ts";

/** Join already-serialized frames into one WebSocket message. */
export function encodeBatch(parts: readonly string[]): string {
  return parts.length === 1 ? parts[0]! : `[${parts.join(",")}]`;
}

/** Split one WebSocket message from the server into its frames. */
export function decodeServerData(data: string): ServerFrame[] {
  const value = JSON.parse(data) as ServerFrame | ServerFrame[];
  return Array.isArray(value) ? value : [value];
}
