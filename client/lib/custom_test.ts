import { deepEqual, equal } from "node:assert/strict";
import type { CustomPush } from "../../protocol/messages.ts";
import { dispatchCustomPush, onCustomPush } from "./custom.ts";

const push = (name: string, data: unknown): CustomPush => ({ type: "custom", name, data });

Deno.test("custom pushes: subscribers by name; unknown names and failing handlers are harmless", () => {
  const seen: unknown[] = [];
  const events: unknown[] = [];
  const onEvent = (e: Event) => events.push((e as CustomEvent<CustomPush>).detail.name);
  addEventListener("parley:custom", onEvent);
  const original = console.error;
  const errors: unknown[] = [];
  console.error = (...args: unknown[]) => errors.push(args[0]);
  try {
    const off = onCustomPush("x.poll", (data) => seen.push(data));
    onCustomPush("x.poll", () => {
      throw new Error("app bug");
    });
    equal(dispatchCustomPush(push("x.unknown", 1)), 0);
    equal(dispatchCustomPush(push("x.poll", { votes: 2 })), 2);
    off();
    equal(dispatchCustomPush(push("x.poll", { votes: 3 })), 1);
    deepEqual(seen, [{ votes: 2 }]);
    equal(errors.length, 2, "each throw is reported");
    deepEqual(events, ["x.unknown", "x.poll", "x.poll"]);
  } finally {
    console.error = original;
    removeEventListener("parley:custom", onEvent);
  }
});
