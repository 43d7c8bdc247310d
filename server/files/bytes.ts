/** What every FileStore adapter shares: ids, the size cap while streaming, chunking. */
import { ProtocolError } from "../../protocol/errors.ts";

/** 18 random bytes (144 bits) as base64url: 24 characters, unguessable, safe in a URL. */
export function newFileId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/** What `newFileId` makes; anything else names no file (and never reaches a path). */
export const FILE_ID_PATTERN = /^[A-Za-z0-9_-]{24}$/;

export function isFileId(id: string): boolean {
  return FILE_ID_PATTERN.test(id);
}

export function tooLarge(maxBytes: number): ProtocolError {
  return new ProtocolError(
    "file_too_large",
    `Files may be at most ${formatBytes(maxBytes)} on this server.`,
  );
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/**
 * The body's bytes in pieces of exactly `size` (the last one shorter), never holding more
 * than one piece; throws `file_too_large` as soon as the total passes `maxBytes`.
 */
export async function* chunked(
  body: ReadableStream<Uint8Array>,
  size: number,
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  let total = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge(maxBytes);
      let offset = 0;
      while (offset < value.byteLength) {
        const take = Math.min(size - filled, value.byteLength - offset);
        buffer.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === size) {
          yield buffer;
          buffer = new Uint8Array(size);
          filled = 0;
        }
      }
    }
    if (filled > 0) yield buffer.subarray(0, filled);
  } finally {
    // Stop the sender: on a refusal the rest is never read.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
