/**
 * Upload a file to a room: `POST /api/rooms/:room/files?name=…` with the raw bytes as the
 * body. XMLHttpRequest, because fetch reports no upload progress. The answer's FileRef
 * goes into `send {file: ref.id}`; the server sniffs the type itself, whatever the blob says.
 */
import type { FileRef } from "../../protocol/messages.ts";
import { ApiError } from "./api.ts";
import { withBase } from "./config.ts";

/** Where a room's uploads go (under the base path). */
export function uploadUrl(room: string, name: string): string {
  return withBase(
    `/api/rooms/${encodeURIComponent(room)}/files?name=${encodeURIComponent(name)}`,
  );
}

/**
 * Send `file` to `room`, calling `onProgress` with 0..1 as bytes go out (1 once the server
 * has answered). Rejects with an ApiError carrying the server's code and message
 * (`file_too_large`, `forbidden`, `rate_limited`…), `network` when the server is out of
 * reach, and an AbortError DOMException when `signal` aborts.
 */
export function uploadFile(
  room: string,
  file: Blob & { name?: string },
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<FileRef> {
  return new Promise<FileRef>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException("The upload was aborted.", "AbortError"));
      return;
    }
    const xhr = new XMLHttpRequest();
    const abort = () => xhr.abort();
    const done = () => signal?.removeEventListener("abort", abort);
    xhr.open("POST", uploadUrl(room, file.name || "file"));
    xhr.withCredentials = true;
    xhr.responseType = "text";
    // The server ignores the claim; a generic type keeps the request free of any meaning.
    xhr.setRequestHeader("content-type", "application/octet-stream");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) {
        // The last bytes are not stored until the server answers.
        onProgress(Math.min(0.99, event.loaded / event.total));
      }
    };
    xhr.onload = () => {
      done();
      const body = parse(xhr.responseText);
      if (xhr.status === 201 && isFileRef(body?.file)) {
        onProgress(1);
        resolve(body.file);
        return;
      }
      reject(errorOf(xhr, body));
    };
    xhr.onerror = () => {
      done();
      reject(new ApiError("network", "Cannot reach the server. Check your connection.", 0));
    };
    xhr.onabort = () => {
      done();
      reject(new DOMException("The upload was aborted.", "AbortError"));
    };
    signal?.addEventListener("abort", abort, { once: true });
    onProgress(0);
    xhr.send(file);
  });
}

interface Answer {
  file?: unknown;
  error?: { code?: unknown; message?: unknown; retryAfterMs?: unknown };
}

function parse(text: string): Answer | null {
  try {
    const body: unknown = JSON.parse(text);
    return typeof body === "object" && body !== null ? body as Answer : null;
  } catch {
    return null;
  }
}

function isFileRef(value: unknown): value is FileRef {
  const ref = value as Partial<FileRef> | null;
  return typeof ref === "object" && ref !== null && typeof ref.id === "string" &&
    typeof ref.name === "string" && typeof ref.type === "string" && typeof ref.size === "number";
}

function errorOf(xhr: XMLHttpRequest, body: Answer | null): ApiError {
  const error = body?.error;
  const retryAfterMs = typeof error?.retryAfterMs === "number" ? error.retryAfterMs : undefined;
  const code = typeof error?.code === "string"
    ? error.code
    : xhr.status === 413
    ? "file_too_large"
    : `http_${xhr.status}`;
  const message = typeof error?.message === "string"
    ? error.message
    : xhr.status === 413
    ? "The file is larger than this server accepts."
    : `The server answered ${xhr.status}.`;
  return new ApiError(code, message, xhr.status, retryAfterMs);
}
