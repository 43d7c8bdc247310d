/**
 * Deleting a message in a real Chromium: the "Delete" action reads clearly wherever it
 * shows (desktop hover, a phone's always-visible actions, dark mode), and a delete waits
 * a few seconds with an Undo before anything is sent.
 */
import assert from "node:assert/strict";
import type { BrowserContextOptions, Locator, Page } from "playwright-core";
import { browserTest, launchChromium, OUTPUT, say, signInPage } from "./browser.ts";
import { startServer, TestClient } from "./helpers.ts";

/** WCAG 2 AA for normal-size text (the label is 0.8rem). */
const MIN_CONTRAST = 4.5;

const VIEWS: [string, BrowserContextOptions][] = [
  ["desktop", { viewport: { width: 1280, height: 800 } }],
  ["desktop, dark", { viewport: { width: 1280, height: 800 }, colorScheme: "dark" }],
  ["phone", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }],
];

browserTest("browser: the Delete label is legible, and a delete can be undone", async () => {
  const server = await startServer();
  const browser = await launchChromium();
  let bob: TestClient | null = null;
  try {
    bob = await TestClient.connect(server, "Bob");
    await bob.request("room.join", { room: "general" });
    let desktop: Page | null = null;
    for (const [view, options] of VIEWS) {
      const page = await (await browser.newContext(options)).newPage();
      await signInPage(page, server.url, "Ada");
      const text = `legible on ${view}`;
      await say(page, text);
      const message = ownMessage(page, text);
      await message.waitFor();
      // Where a mouse is, the actions show on hover; on a touch screen they always show.
      if (!options.hasTouch) await message.hover();
      const remove = message.getByTestId("message-delete");
      await remove.waitFor();
      const { ratio, color, background } = await contrastOf(remove);
      await page.screenshot({
        path: new URL(`delete-label-${view.replace(/\W+/g, "-")}.png`, OUTPUT).pathname,
      });
      assert.ok(
        ratio >= MIN_CONTRAST,
        `${view}: "Delete" is ${color} on ${background}, contrast ${ratio.toFixed(2)}:1`,
      );
      if (view === "desktop") desktop = page;
    }

    // A delete waits, with an Undo; undone, nothing is sent and the message stays.
    const ada = desktop!;
    const seq = await ownMessage(ada, "legible on desktop").getAttribute("data-seq");
    // By seq: once deleted, the text it was found by is gone.
    const kept = ada.locator(`[data-testid="message"][data-seq="${seq}"]`);
    await kept.hover();
    await kept.getByTestId("message-delete").click();
    const undo = ada.getByTestId("notice").filter({ hasText: "Message deleted" })
      .getByRole("button", { name: "Undo" });
    await undo.waitFor();
    await ada.screenshot({ path: new URL("delete-undo.png", OUTPUT).pathname });
    await undo.click();
    await undo.waitFor({ state: "detached" });
    await sleep(7_000); // Past the undo window: still nothing sent.
    assert.equal(await kept.getByTestId("message-text").innerText(), "legible on desktop");
    assert.equal(bob.pushes("message").filter((f) => f.message.kind === "delete").length, 0);

    // Not undone, the delete goes out once the notice is gone, and everyone sees it.
    await kept.hover();
    await kept.getByTestId("message-delete").click();
    await ada.getByTestId("notice").filter({ hasText: "Message deleted" }).waitFor();
    const deleted = await bob.next(
      (f) => f.type === "message" && f.message.kind === "delete",
      10_000,
    );
    assert.ok(deleted.type === "message" && deleted.message.kind === "delete");
    await kept.getByTestId("message-deleted").waitFor();
  } finally {
    await bob?.close();
    await browser.close();
    await server.close();
  }
});

/** One of our own messages (the one that has a Delete action), by its text. */
function ownMessage(page: Page, text: string): Locator {
  return page.getByTestId("message").filter({ has: page.getByText(text, { exact: true }) })
    .last();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The WCAG contrast ratio of `el`'s text against what is painted behind it: every
 * background up the tree composited, and the text faded by any ancestor's opacity.
 */
function contrastOf(el: Locator): Promise<{ ratio: number; color: string; background: string }> {
  return el.evaluate((node) => {
    type Rgba = [number, number, number, number];
    const parse = (css: string): Rgba => {
      const srgb = /^color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.e-]+))?\)$/.exec(css);
      if (srgb) {
        return [+srgb[1]! * 255, +srgb[2]! * 255, +srgb[3]! * 255, srgb[4] ? +srgb[4] : 1];
      }
      const rgb = /^rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)(?:,? \/? ?([\d.]+))?\)$/.exec(css);
      if (!rgb) throw new Error(`unparsed colour ${css}`);
      return [+rgb[1]!, +rgb[2]!, +rgb[3]!, rgb[4] ? +rgb[4] : 1];
    };
    const over = (top: Rgba, below: Rgba): Rgba => [
      top[0] * top[3] + below[0] * (1 - top[3]),
      top[1] * top[3] + below[1] * (1 - top[3]),
      top[2] * top[3] + below[2] * (1 - top[3]),
      1,
    ];
    const layers: Rgba[] = [];
    let opacity = 1;
    for (let at: Element | null = node; at; at = at.parentElement) {
      const style = getComputedStyle(at);
      layers.push(parse(style.backgroundColor));
      opacity *= Number(style.opacity);
    }
    let background: Rgba = [255, 255, 255, 1]; // The canvas, under the root's own colour.
    for (const layer of layers.reverse()) background = over(layer, background);
    const text = parse(getComputedStyle(node).color);
    const color = over([text[0], text[1], text[2], text[3] * opacity], background);
    const luminance = ([r, g, b]: Rgba) => {
      const lin = (c: number) => {
        const s = c / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const [hi, lo] = [luminance(color), luminance(background)].sort((a, b) => b - a);
    const css = (c: Rgba) => `rgb(${c.slice(0, 3).map(Math.round).join(" ")})`;
    return {
      ratio: (hi! + 0.05) / (lo! + 0.05),
      color: css(color),
      background: css(background),
    };
  });
}
