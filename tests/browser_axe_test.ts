/**
 * axe-core over every page of the web client, on a desktop (light and dark) and on a
 * phone: the sign-in page; the chat view with messages, a day divider, a moderation line,
 * a command's note, the slash-command list and (on the phone) the room drawer open; and
 * the room settings. No violation rated serious or critical is allowed.
 *
 * The page's Content-Security-Policy forbids inline script, and axe is injected as one;
 * the browser context bypasses the CSP for that, so the server's policy stays as it is.
 */
import assert from "node:assert/strict";
import axe from "axe-core";
import type { BrowserContextOptions, Page } from "playwright-core";
import { browserTest, createRoomInUi, launchChromium, OUTPUT, say, signInPage } from "./browser.ts";
import { startServer, TestClient } from "./helpers.ts";

const VIEWS: [string, BrowserContextOptions][] = [
  ["desktop", { viewport: { width: 1280, height: 800 } }],
  ["desktop, dark", { viewport: { width: 1280, height: 800 }, colorScheme: "dark" }],
  ["phone", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }],
];

interface Finding {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** Run axe on the page as it is now; every violation, most severe first. */
async function audit(page: Page): Promise<Finding[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) {
    await page.addScriptTag({ content: axe.source });
  }
  const results = await page.evaluate(async () => {
    const run = (globalThis as unknown as { axe: typeof axe }).axe.run;
    const { violations } = await run(document, { resultTypes: ["violations"] });
    return violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? null,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  const rank = ["critical", "serious", "moderate", "minor"];
  return results.sort((a, b) => rank.indexOf(a.impact ?? "") - rank.indexOf(b.impact ?? ""));
}

const SEVERE = new Set(["serious", "critical"]);

browserTest("browser: axe finds nothing serious on any page, desktop or phone", async () => {
  const server = await startServer();
  const browser = await launchChromium();
  let bob: TestClient | null = null;
  const report: string[] = [];
  const severe: string[] = [];
  const check = async (page: Page, where: string) => {
    const findings = await audit(page);
    await page.screenshot({
      path: new URL(`axe-${where.replace(/\W+/g, "-")}.png`, OUTPUT).pathname,
    });
    for (const f of findings) {
      const line = `${where}: ${f.impact} ${f.id} (${f.help}) at ${f.targets.join(", ")}`;
      report.push(line);
      if (SEVERE.has(f.impact ?? "")) severe.push(line);
    }
  };
  try {
    bob = await TestClient.connect(server, "Bob");
    for (const [view, options] of VIEWS) {
      const page = await (await browser.newContext({ ...options, bypassCSP: true })).newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));

      await page.goto(server.url);
      await page.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
      await check(page, `${view} sign-in`);

      // A room with some life in it: others' messages, ours, a moderation line, a note.
      await signInPage(page, server.url, "Ada");
      const room = `axe-${view.replace(/\W+/g, "-")}`;
      // On a phone the room list is a drawer behind a toggle; the "+" dialog closes it.
      const toggle = page.getByTestId("rooms-toggle");
      await createRoomInUi(page, room);
      if ((await toggle.getAttribute("aria-expanded")) === "true") await toggle.click();
      await bob.request("room.join", { room });
      await bob.request("send", { room, text: "hello from Bob", nonce: `bob-${room}-0001` });
      await say(page, "hello, Bob: see https://example.com");
      await page.getByTestId("message-text").filter({ hasText: "hello from Bob" }).waitFor();
      await say(page, "/mute Bob 5");
      await page.getByTestId("system-line").first().waitFor();
      await say(page, "/help");
      await page.getByTestId("command-feedback").nth(1).waitFor();
      await check(page, `${view} chat`);
      // The slash-command list, open above the composer.
      await page.getByTestId("composer").fill("/");
      await page.getByTestId("command-list").waitFor();
      await check(page, `${view} chat, commands listed`);
      await page.getByTestId("composer").fill("");
      if (await toggle.isVisible()) {
        await toggle.click();
        await page.locator(".rooms-panel.open").waitFor();
        await check(page, `${view} chat, rooms drawer open`);
        await toggle.click();
        await page.locator(".rooms-panel").waitFor({ state: "hidden" });
      }

      await page.getByTestId("room-settings").click();
      await page.getByTestId("settings-panel").waitFor();
      await check(page, `${view} room settings`);
      assert.deepEqual(errors, []);
    }
    console.log(report.length ? report.join("\n") : "axe: no violations at all");
    assert.deepEqual(severe, [], "serious or critical axe violations");
  } finally {
    await bob?.close();
    await browser.close();
    await server.close();
  }
});
