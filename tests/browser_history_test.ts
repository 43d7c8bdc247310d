/** Durable history in a real Chromium: paging back through a long room, and the offline outbox. */
import assert from "node:assert/strict";
import type { Page, WebSocketRoute } from "playwright-core";
import {
  browserTest,
  createRoomInUi,
  launchChromium,
  openRoom,
  OUTPUT,
  say,
  signInPage,
} from "./browser.ts";
import { startServer, TestClient, type TestServer } from "./helpers.ts";

function connected(page: Page, timeout = 5000): Promise<void> {
  return page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout });
}

const messageTexts = (page: Page) =>
  page.locator('[data-testid="message"] [data-testid="message-text"]').allInnerTexts();

/** Scroll the timeline to its top; return the oldest message shown and where it sits. */
function scrollToTop(page: Page): Promise<{ seq: string; top: number } | null> {
  return page.locator(".timeline").evaluate((el) => {
    el.scrollTop = 0;
    const first = el.querySelector<HTMLElement>('[data-testid="message"]');
    return first ? { seq: first.dataset.seq!, top: first.getBoundingClientRect().top } : null;
  });
}

browserTest(
  "browser: scroll back through 500 messages, each shown once, the view held steady",
  async () => {
    const server = await startServer();
    const browser = await launchChromium();
    try {
      const seeder = await TestClient.connect(server, "Seeder");
      await seeder.request("room.create", { room: "archive", topic: "500 messages" });
      // Straight into the store: the socket's rate limit would take minutes.
      for (let i = 1; i <= 500; i++) {
        await server.app.hub.store.append({
          kind: "text",
          room: "archive",
          author: seeder.user,
          text: `message ${i}`,
          nonce: `seed-${i.toString().padStart(4, "0")}`,
        });
      }
      await seeder.close();

      const page = await (await browser.newContext({ viewport: { width: 1100, height: 700 } }))
        .newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await signInPage(page, `${server.url}/#archive`, "Reader");
      await page.getByTestId("message-text").filter({ hasText: /^message 500$/ }).waitFor();
      // The newest 50 come with the join. Messages grouped by author are short, so the
      // view may start within reach of the top and take a page above them at once.
      await page.locator('[data-testid="load-earlier"]:enabled').waitFor();
      const held = [await page.getByTestId("message").count()];

      // Scroll up until message #1 is at the top; each time a page loads above.
      const shifts: number[] = [];
      for (let pages = 0;; pages++) {
        assert.ok(pages < 20, "the beginning of the room was never reached");
        const before = await page.getByTestId("message").count();
        const anchor = await scrollToTop(page);
        assert.ok(anchor);
        if (anchor.seq === "1") break;
        await page.waitForFunction(
          (n) => document.querySelectorAll('[data-testid="message"]').length > n,
          before,
        );
        // The message that was at the top must not move while the page goes in above it.
        const top = await page.locator(`[data-testid="message"][data-seq="${anchor.seq}"]`)
          .evaluate((el) => el.getBoundingClientRect().top);
        shifts.push(Math.abs(top - anchor.top));
        held.push(await page.getByTestId("message").count());
        if (pages === 1) {
          await page.screenshot({ path: new URL("history-paging.png", OUTPUT).pathname });
        }
      }
      // Pages of 100 above the first 50, the last of 50, each loaded by scrolling up.
      assert.ok(held[0] === 50 || held[0] === 150, `held at first: ${held[0]}`);
      assert.deepEqual(
        held.slice(1).map((n, i) => n - held[i]!),
        [...Array((500 - held[0]! - 50) / 100).fill(100), 50],
        `pages of 100 and the last of 50: ${held}`,
      );
      assert.equal(shifts.length, held.length - 1);
      assert.ok(shifts.every((d) => d <= 3), `the view jumped while loading: ${shifts}`);
      await page.locator(".timeline-start").waitFor();

      const texts = await messageTexts(page);
      assert.deepEqual(texts, Array.from({ length: 500 }, (_, i) => `message ${i + 1}`));
      await page.screenshot({ path: new URL("history-start.png", OUTPUT).pathname });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

browserTest("browser: pending messages are sent after the network comes back", async () => {
  const data = await Deno.makeTempDir({ prefix: "parley-browser-" });
  let server: TestServer | null = await startServer({ data });
  const { port, url } = server;
  const browser = await launchChromium();
  try {
    const ada = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    for (const page of [ada, bob]) page.on("pageerror", (e) => errors.push(e.message));
    await signInPage(ada, url, "Ada");
    await signInPage(bob, url, "Bob");
    await say(ada, "before the outage");
    await bob.getByTestId("message-text").filter({ hasText: "before the outage" }).waitFor();

    // Playwright's context.setOffline does not cut an open WebSocket in Chromium; this does.
    await server.close();
    server = null;
    await ada.locator('[data-testid="status"][data-state="offline"]').waitFor();
    await say(ada, "written offline 1");
    await say(ada, "written offline 2");
    const pending = ada.getByTestId("pending");
    await pending.nth(1).waitFor();
    assert.deepEqual(await pending.getByTestId("message-text").allInnerTexts(), [
      "written offline 1",
      "written offline 2",
    ]);
    await ada.screenshot({ path: new URL("outbox-pending.png", OUTPUT).pathname });

    // The same data and port: both pages reconnect, recover the room, then the outbox drains.
    server = await startServer({ data, port });
    assert.equal(server.port, port, "startServer restarts on the port it is given");
    await connected(ada, 20_000);
    await pending.first().waitFor({ state: "detached", timeout: 10_000 });
    await connected(bob, 20_000);
    const expected = ["before the outage", "written offline 1", "written offline 2"];
    for (const page of [ada, bob]) {
      await page.getByTestId("message-text").filter({ hasText: "written offline 2" }).waitFor();
      const texts = (await messageTexts(page)).filter((t) => expected.includes(t));
      assert.deepEqual(texts, expected, "each message once, in order");
      assert.equal(await page.getByTestId("recovery-gap").count(), 0, "recovered, no jump");
    }
    await bob.screenshot({ path: new URL("outbox-delivered.png", OUTPUT).pathname });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server?.close();
    await Deno.remove(data, { recursive: true });
  }
});

browserTest(
  "browser: edits, deletions, receipts, unread counts, a lost push and a recovery jump",
  async () => {
    // A small replay cap, so a short absence is already too long to recover.
    const server = await startServer({ recoveryMax: 10 });
    const browser = await launchChromium();
    try {
      const ada = await (await browser.newContext()).newPage();
      const bob = await (await browser.newContext({
        viewport: { width: 390, height: 780 },
        hasTouch: true,
        isMobile: true,
      })).newPage();
      const errors: string[] = [];
      for (const page of [ada, bob]) page.on("pageerror", (e) => errors.push(e.message));
      // Bob's socket runs through a relay that can drop one push, or be cut.
      let relay: WebSocketRoute | null = null;
      let cut = false;
      let dropNext = false;
      await bob.routeWebSocket(/\/ws/, (ws) => {
        if (cut) {
          ws.close({ code: 1012 });
          return;
        }
        relay = ws;
        const upstream = ws.connectToServer();
        upstream.onMessage((data) => {
          if (dropNext && String(data).includes('"type":"message"')) dropNext = false;
          else ws.send(data);
        });
      });

      await signInPage(ada, server.url, "Ada");
      await createRoomInUi(ada, "team", { receipts: true });
      await ada.locator('[data-testid="room-item"][data-room="team"]').waitFor();
      await say(ada, "hello team");
      await say(ada, "secnd message");
      await signInPage(bob, server.url, "Bob");
      await openRoom(bob, "team");
      await say(bob, "hi Ada");
      const bobMessage = ada.getByTestId("message").filter({ hasText: "hi Ada" });
      await bobMessage.waitFor();

      // Ada fixes her typo in place; Bob sees the new text, marked as edited.
      const typo = ada.getByTestId("message").filter({ hasText: "secnd message" });
      await typo.hover();
      await typo.getByTestId("message-edit").click();
      await ada.getByTestId("message-edit-input").fill("second message");
      await ada.getByTestId("message-edit-input").press("Enter");
      const edited = bob.getByTestId("message").filter({
        has: bob.getByTestId("message-text").getByText("second message", { exact: true }),
      });
      await edited.getByTestId("message-edited").waitFor();
      // ArrowUp in the empty composer edits her last message; Escape leaves it as it was.
      await ada.getByTestId("composer").press("ArrowUp");
      assert.equal(await ada.getByTestId("message-edit-input").inputValue(), "second message");
      await ada.getByTestId("message-edit-input").press("Escape");
      await ada.getByTestId("message-edit-input").waitFor({ state: "detached" });

      // Bob may not delete Ada's messages; Ada created the room, owns it, and may delete his.
      const adaOnBob = bob.getByTestId("message").filter({ hasText: "hello team" });
      assert.equal(await adaOnBob.getByTestId("message-delete").count(), 0);
      await bobMessage.hover();
      await bobMessage.getByTestId("message-delete").click();
      await bob.getByTestId("message-deleted").waitFor();
      assert.equal(await bob.getByText("hi Ada").count(), 0);

      // Bob has read to the end: Ada sees it under the newest message.
      await ada.getByTestId("receipts").filter({ hasText: "Seen by Bob" }).waitFor();
      await ada.screenshot({ path: new URL("team-ada.png", OUTPUT).pathname });

      // Away in another room, Bob counts what Ada writes; opening the room reads it.
      await openRoom(bob, "general");
      for (const text of ["one", "two", "three"]) await say(ada, text);
      const badge = bob.locator('[data-room="team"] [data-testid="room-unread"]');
      await bob.getByTestId("rooms-toggle").click();
      await badge.filter({ hasText: /^3$/ }).waitFor();
      await bob.locator('[data-testid="room-item"][data-room="team"]').click();
      await badge.waitFor({ state: "detached" });

      // A push that never arrives is fetched once a later one shows the hole.
      dropNext = true;
      await say(ada, "lost on the way");
      await say(ada, "after the loss");
      await bob.getByText("lost on the way").waitFor();

      // Bob is cut off while more than the replay cap goes by: the timeline jumps, marked.
      cut = true;
      await (relay as WebSocketRoute | null)?.close({ code: 1012 });
      await bob.locator('[data-testid="status"][data-state="offline"]').waitFor();
      for (let i = 1; i <= 12; i++) await say(ada, `while away ${i}`);
      cut = false;
      await connected(bob, 20_000);
      await bob.getByText("while away 12").waitFor();
      await bob.getByTestId("recovery-gap").waitFor();
      const texts = await messageTexts(bob);
      assert.equal(new Set(texts).size, texts.length, "no message shown twice");
      assert.equal(texts.indexOf("while away 1"), texts.indexOf("after the loss") + 1);
      await bob.screenshot({ path: new URL("team-bob-phone.png", OUTPUT).pathname });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);
