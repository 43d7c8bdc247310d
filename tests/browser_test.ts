/**
 * The web client in a real Chromium: two people, each with an account and a browser
 * context of their own (the session cookie is per context), chat.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  browserTest,
  createRoomInUi,
  launchChromium,
  openRoom,
  OUTPUT,
  say,
  signInPage,
} from "./browser.ts";
import { startServer } from "./helpers.ts";

const messageTexts = (page: Page) => page.getByTestId("message-text").allInnerTexts();

browserTest(
  "browser: two people chat, see presence, typing and history, and switch rooms",
  async () => {
    const server = await startServer();
    const browser = await launchChromium();
    try {
      const ada = await (await browser.newContext()).newPage();
      const bob = await (await browser.newContext({ viewport: { width: 390, height: 780 } }))
        .newPage();
      const errors: string[] = [];
      for (const page of [ada, bob]) page.on("pageerror", (e) => errors.push(e.message));

      await signInPage(ada, server.url, "Ada");
      await createRoomInUi(ada, "lounge");
      await ada.locator('[data-testid="room-item"][data-room="lounge"]').waitFor();
      await say(ada, "hello from Ada, see https://example.com/docs");
      await ada.getByTestId("message-text").filter({ hasText: "hello from Ada" }).waitFor();

      // Bob joins later and finds the earlier message waiting.
      await signInPage(bob, server.url, "Bob");
      await openRoom(bob, "lounge");
      await bob.getByTestId("message-text").filter({ hasText: "hello from Ada" }).waitFor();
      const link = bob.locator('[data-testid="message-text"] a[href="https://example.com/docs"]');
      assert.equal(await link.getAttribute("rel"), "noopener noreferrer nofollow");

      // Presence: each sees the other online in the room.
      await ada.getByTestId("member").filter({ hasText: "Bob" }).waitFor();
      assert.ok((await ada.getByTestId("member").allInnerTexts()).some((t) => t.includes("Ada")));

      // Typing shows on the other side, then the message arrives at once.
      await bob.getByTestId("composer").pressSequentially("hi A", { delay: 20 });
      await ada.getByTestId("typing").filter({ hasText: "Bob is typing" }).waitFor();
      await bob.getByTestId("composer").fill('hi Ada <img src=x onerror="window.__xss=1">');
      await bob.getByTestId("composer").press("Enter");
      await ada.getByTestId("message-text").filter({ hasText: "hi Ada <img" }).waitFor();
      assert.equal(await ada.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
      assert.equal(await ada.locator('[data-testid="message-text"] img').count(), 0);
      await ada.getByTestId("typing").filter({ hasText: "Bob is typing" }).waitFor({
        state: "hidden",
      });

      await ada.screenshot({ path: new URL("ada-lounge.png", OUTPUT).pathname, fullPage: true });
      await bob.screenshot({
        path: new URL("bob-lounge-phone.png", OUTPUT).pathname,
        fullPage: true,
      });

      // Switching rooms: general is separate from lounge.
      await openRoom(ada, "general");
      await say(ada, "over in general");
      await ada.getByTestId("message-text").filter({ hasText: "over in general" }).waitFor();
      assert.ok(!(await messageTexts(ada)).some((t) => t.includes("hello from Ada")));
      assert.ok(!(await messageTexts(bob)).some((t) => t.includes("over in general")));
      await openRoom(bob, "general");
      await bob.getByTestId("message-text").filter({ hasText: "over in general" }).waitFor();
      await openRoom(bob, "lounge");
      await bob.getByTestId("message-text").filter({ hasText: "hi Ada" }).waitFor();
      assert.equal(
        (await messageTexts(bob)).filter((t) => t.includes("hello from Ada")).length,
        1,
        "no message shown twice after switching back",
      );
      await ada.screenshot({ path: new URL("ada-general.png", OUTPUT).pathname, fullPage: true });

      // The session outlives a reload: no sign-in page, back in the same room.
      await bob.reload();
      await bob.locator('[data-testid="status"][data-state="connected"]').waitFor();
      assert.equal(await bob.locator('[data-testid="auth-gate"][data-state="open"]').count(), 0);
      await bob.getByTestId("message-text").filter({ hasText: "hi Ada" }).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);
