/**
 * Request bodies of the JSON API, decoded once at the boundary with the schemas that
 * `/api/openapi.json` publishes. A body must be declared `application/json` (else 415
 * `unsupported_media_type`), be at most MAX_BODY_BYTES (else 413 `too_large`, answered
 * from Content-Length alone, or as soon as a chunked body passes the cap: the rest is
 * never read), and parse and match the endpoint's schema (else 400 `bad_request`).
 */
import type * as z from "zod";
import { failure } from "./reply.ts";

/** Largest request body the API reads: a full-length message in UTF-8 with room to spare. */
export const MAX_BODY_BYTES = 32 * 1024;

export type Decoded<T> = { ok: true; value: T } | { ok: false; response: Response };

/** `application/json`, with a UTF-8 charset or none (JSON is UTF-8); other types are refused. */
export function isJsonMediaType(header: string | null): boolean {
  if (header === null) return false;
  const [type, ...params] = header.split(";");
  if (type!.trim().toLowerCase() !== "application/json") return false;
  return params.every((param) => {
    const eq = param.indexOf("=");
    const name = param.slice(0, eq < 0 ? undefined : eq).trim().toLowerCase();
    const value = eq < 0 ? "" : param.slice(eq + 1).trim().replace(/^"|"$/g, "").toLowerCase();
    return name !== "charset" || value === "utf-8" || value === "utf8";
  });
}

export function unsupportedMediaType(): Response {
  return failure(415, "unsupported_media_type", "Send the body as Content-Type: application/json.");
}

export function tooLarge(): Response {
  return failure(413, "too_large", `The body is larger than ${MAX_BODY_BYTES} bytes.`);
}

export function badRequest(message: string): Response {
  return failure(400, "bad_request", message);
}

/**
 * Read and validate a JSON body: the value, or the answer saying what is wrong. With
 * `optional`, a request without a body stands for `{}`.
 */
export async function readBody<T extends z.ZodType>(
  request: Request,
  schema: T,
  { optional = false }: { optional?: boolean } = {},
): Promise<Decoded<z.infer<T>>> {
  const declared = request.headers.get("content-length");
  if (optional && (request.body === null || declared === "0")) return validate(schema, {});
  const type = request.headers.get("content-type");
  const typed = isJsonMediaType(type);
  // Without a Content-Length, an optional body may still turn out empty: look first.
  if (!typed && !(optional && type === null)) {
    discard(request);
    return { ok: false, response: unsupportedMediaType() };
  }
  if (declared !== null && !(Number(declared) <= MAX_BODY_BYTES)) {
    discard(request);
    return { ok: false, response: tooLarge() };
  }
  const bytes = await readCapped(request.body, MAX_BODY_BYTES);
  if (bytes === null) return { ok: false, response: tooLarge() };
  if (bytes.length === 0) {
    return optional
      ? validate(schema, {})
      : { ok: false, response: badRequest("The body is empty; send a JSON object.") };
  }
  if (!typed) return { ok: false, response: unsupportedMediaType() };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, response: badRequest("The body is not valid JSON.") };
  }
  return validate(schema, value);
}

function validate<T extends z.ZodType>(schema: T, value: unknown): Decoded<z.infer<T>> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) =>
    issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message
  );
  return { ok: false, response: badRequest(problems.join("; ")) };
}

/**
 * The body's bytes, or null as soon as they pass `max`: the stream is cancelled then and
 * nothing more is read (Deno discards whatever the client still sends, without keeping it).
 */
async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array | null> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const piece of chunks) {
    bytes.set(piece, offset);
    offset += piece.byteLength;
  }
  return bytes;
}

/** Stop reading a body that will not be used. */
export function discard(request: Request): void {
  if (request.body && !request.bodyUsed) request.body.cancel().catch(() => {});
}
