import { deepEqual, equal } from "node:assert/strict";
import { ALL_FEATURES, mergeFeatures, normalizeBase, parseFeatures, socketUrl } from "./config.ts";

Deno.test("normalizeBase: empty at the root, one leading slash, no trailing one", () => {
  equal(normalizeBase(""), "");
  equal(normalizeBase(null), "");
  equal(normalizeBase("/"), "");
  equal(normalizeBase("/chat"), "/chat");
  equal(normalizeBase("/chat/"), "/chat");
  equal(normalizeBase("chat"), "/chat");
  equal(normalizeBase("/apps/chat//"), "/apps/chat");
});

Deno.test("socketUrl: the scheme follows the page, the path the base", () => {
  equal(socketUrl({ protocol: "http:", host: "localhost:8000" }, ""), "ws://localhost:8000/ws");
  equal(
    socketUrl({ protocol: "https:", host: "example.com" }, "/chat"),
    "wss://example.com/chat/ws",
  );
});

Deno.test("features: switches the page does not name, or names badly, stay on", () => {
  deepEqual(parseFeatures(null), ALL_FEATURES);
  deepEqual(parseFeatures("not json"), ALL_FEATURES);
  deepEqual(parseFeatures('{"directMessages":false,"edits":"no"}'), {
    ...ALL_FEATURES,
    directMessages: false,
  });
  deepEqual(mergeFeatures({ receipts: false, guests: false, extra: true }), {
    directMessages: true,
    receipts: false,
    edits: true,
    guests: false,
  });
  deepEqual(mergeFeatures(null), ALL_FEATURES);
});
