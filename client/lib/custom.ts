/**
 * Pushes from an application's own frame handlers (`{type: "custom", name: "x.…"}`).
 * The chat ignores them; an application's code in the page subscribes by name.
 */
import type { CustomPush } from "../../protocol/messages.ts";

export type CustomPushHandler = (data: unknown, push: CustomPush) => void;

const handlers = new Map<string, Set<CustomPushHandler>>();

/** Call `handler` for every custom push named `name`; returns the unsubscribe function. */
export function onCustomPush(name: string, handler: CustomPushHandler): () => void {
  let set = handlers.get(name);
  if (!set) handlers.set(name, set = new Set());
  set.add(handler);
  return () => {
    set.delete(handler);
    if (set.size === 0) handlers.delete(name);
  };
}

/**
 * Hand a push to its subscribers. Unknown names are dropped quietly; a handler that
 * throws is reported and does not stop the others, nor the chat.
 */
export function dispatchCustomPush(push: CustomPush): number {
  // Scripts of the embedding page that do not share this bundle can listen on window.
  if (typeof dispatchEvent === "function" && typeof CustomEvent === "function") {
    dispatchEvent(new CustomEvent("parley:custom", { detail: push }));
  }
  const set = handlers.get(push.name);
  if (!set) return 0;
  for (const handler of [...set]) {
    try {
      handler(push.data, push);
    } catch (error) {
      console.error(`parley: custom push handler for "${push.name}" failed`, error);
    }
  }
  return set.size;
}
