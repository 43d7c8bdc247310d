/**
 * Property-based tests of the frame decoder: whatever a socket delivers, `decodeClientFrame`
 * answers, never throws, and answers the same way the schema does. `deno task fuzz` runs
 * each property many more times (tests/fuzz_support.ts).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeClientFrame, type Decoded } from "../protocol/codec.ts";
import { ERROR_CODES } from "../protocol/errors.ts";
import { exceedsBytes, LIMITS } from "../protocol/limits.ts";
import {
  ClientFrame as ClientSchema,
  REQUEST_ID_MAX,
  ServerFrame as ServerSchema,
} from "../protocol/schema.ts";
import { check } from "./fuzz_support.ts";
import {
  edgyJson,
  fieldName,
  frameLike,
  jsonishText,
  mutatedFrame,
  nonce,
  requestId,
  roomName,
  text,
  validFrame,
} from "./fuzz_frames.ts";

/** Decode without letting an exception escape as anything but a failed property. */
function decode(raw: string): Decoded {
  try {
    return decodeClientFrame(raw);
  } catch (error) {
    throw new Error(`decodeClientFrame threw on ${JSON.stringify(raw.slice(0, 200))}`, {
      cause: error,
    });
  }
}

function parsed(raw: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
}

/** What every answer of the decoder must satisfy, for any input. */
function holds(raw: string, decoded: Decoded): void {
  if (decoded.ok) {
    assert.notEqual(decoded.custom, true, "no custom frames are registered");
    // Accepted: exactly what the schema accepts, and it re-encodes to itself.
    const json = parsed(raw);
    assert.ok(json.ok, "a decoded frame was JSON");
    const schema = ClientSchema.safeParse(json.value);
    assert.ok(schema.success, "the decoder accepted what the schema refuses");
    assert.deepEqual(decoded.frame, schema.data);
    const again = decode(JSON.stringify(decoded.frame));
    assert.ok(again.ok, "a decoded frame, re-encoded, no longer decodes");
    assert.deepEqual(again.frame, JSON.parse(JSON.stringify(decoded.frame)));
    return;
  }
  assert.ok(decoded.code in ERROR_CODES, `unknown error code ${decoded.code}`);
  assert.equal(typeof decoded.message, "string");
  assert.ok(decoded.message.length > 0);
  // The request id comes back when the frame was a JSON object that carried one.
  const json = parsed(raw);
  const value = json.ok ? json.value : undefined;
  const id = typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>).id
    : undefined;
  const carried = typeof id === "number" && Number.isSafeInteger(id) && id >= 0 &&
    id <= REQUEST_ID_MAX &&
    decoded.code !== "frame_too_large";
  assert.equal(decoded.id, carried ? id : null, "the request id is kept, or there was none");
  // The error as the session sends it is a valid server frame.
  const error = { code: decoded.code, message: decoded.message };
  const frame = decoded.id === null
    ? { type: "error", error }
    : { type: "reply", id: decoded.id, error };
  const server = ServerSchema.safeParse(JSON.parse(JSON.stringify(frame)));
  assert.ok(
    server.success,
    `the error reply is not a valid server frame: ${JSON.stringify(frame)}`,
  );
}

const checkRaw = (raw: string) => holds(raw, decode(raw));

Deno.test("fuzz codec: arbitrary text never throws and always answers", async () => {
  await check("codec/arbitrary text", fc.property(jsonishText, checkRaw), {
    quick: 200,
    deep: 10_000,
  });
});

Deno.test("fuzz codec: arbitrary JSON values and frame-like objects", async () => {
  const value = fc.oneof(fc.jsonValue(), frameLike, frameLike.map((f) => [f]));
  await check("codec/arbitrary JSON", fc.property(value, (v) => checkRaw(JSON.stringify(v))), {
    quick: 300,
    deep: 50_000,
  });
});

Deno.test("fuzz codec: mutations of valid frames", async () => {
  await check("codec/mutations", fc.property(mutatedFrame, checkRaw), {
    quick: 300,
    deep: 50_000,
  });
});

Deno.test("fuzz codec: every valid frame decodes to itself and re-encodes the same", async () => {
  await check(
    "codec/valid round trip",
    fc.property(validFrame, (frame) => {
      const raw = JSON.stringify(frame);
      const decoded = decode(raw);
      assert.ok(decoded.ok, `refused a valid frame: ${decoded.ok || decoded.message}`);
      assert.deepEqual(decoded.frame, JSON.parse(raw));
      holds(raw, decoded);
    }),
    { quick: 300, deep: 50_000 },
  );
});

Deno.test("fuzz codec: the hand check of send agrees with the schema", async () => {
  const field = <T>(good: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: edgyJson });
  const sendLike = fc.tuple(
    fc.record({
      type: fc.constant("send"),
      id: field(requestId),
      room: field(fc.oneof(roomName, fc.string({ maxLength: 34 }))),
      text: field(text(0, LIMITS.messageChars + 2)),
      nonce: field(fc.oneof(nonce, fc.string({ minLength: 6, maxLength: 66 }))),
    }, { requiredKeys: ["type"] }),
    fc.option(fc.tuple(fieldName, edgyJson), { freq: 5, nil: undefined }),
  ).map(([frame, extra]) => {
    const out: Record<string, unknown> = { ...frame };
    if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true });
    return JSON.stringify(out);
  });
  await check(
    "codec/send fast path",
    fc.property(sendLike, (raw) => {
      const decoded = decode(raw);
      const schema = ClientSchema.safeParse(JSON.parse(raw));
      assert.equal(decoded.ok, schema.success, raw.slice(0, 200));
      if (decoded.ok && schema.success) assert.deepEqual(decoded.frame, schema.data);
      holds(raw, decoded);
    }),
    { quick: 300, deep: 50_000 },
  );
});

Deno.test("fuzz codec: the byte cap counts what the socket carried", async () => {
  // A WebSocket text message is well-formed UTF-16 once decoded: no lone surrogates.
  const wellFormed = fc.string({ unit: "grapheme", maxLength: 200 }).chain((s) =>
    fc.nat({ max: 40 }).map((times) => s.repeat(times))
  );
  const encoder = new TextEncoder();
  await check(
    "codec/byte cap",
    fc.property(wellFormed, fc.integer({ min: 0, max: 20_000 }), (s, max) => {
      assert.equal(exceedsBytes(s, max), encoder.encode(s).length > max);
    }),
    { quick: 300, deep: 50_000 },
  );
});
