/** Browser entry: hydrate every server-rendered island, then start the chat. */
import { type ComponentType, h, hydrate } from "preact";
import { islands } from "./islands/mod.ts";
import { start } from "./lib/app.ts";
import { pageFeatures } from "./lib/config.ts";
import { features } from "./lib/state.ts";

/** Looked up by the name in the page; the props come from the page's JSON, typed by page.tsx. */
const registry: Partial<Record<string, ComponentType<never>>> = islands;

// Before the first render, so switched-off features never flash into view.
features.value = pageFeatures();

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const component = registry[el.dataset.island ?? ""];
  if (!component) {
    console.warn(`parley: unknown island "${el.dataset.island}"`);
    continue;
  }
  hydrate(h(component, JSON.parse(el.dataset.props ?? "{}") as never), el);
}

start();
