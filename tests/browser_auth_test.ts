/**
 * Accounts and permissions in a real Chromium: two people register in two browser
 * contexts, meet in a private room by invitation, and see only what they may do.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  browserTest,
  createRoomInUi,
  launchChromium,
  OUTPUT,
  passwordFor,
  roomItem,
  say,
  signInPage,
  submitAuth,
} from "./browser.ts";
import { ROOT, startServer } from "./helpers.ts";

/** The settings panel's row for `name`. */
const memberRow = (page: Page, name: string) =>
  page.locator(`[data-testid="settings-member"][data-name="${name}"]`);

async function openSettings(page: Page): Promise<void> {
  await page.getByTestId("room-settings").click();
  await page.getByTestId("settings-panel").waitFor();
}

async function closeSettings(page: Page): Promise<void> {
  await page.getByTestId("settings-close").click();
  await page.getByTestId("settings-panel").waitFor({ state: "detached" });
}

browserTest(
  "browser: register, invite to a private room, chat both ways, see only what you may do",
  async () => {
    const server = await startServer();
    const browser = await launchChromium();
    try {
      const adaContext = await browser.newContext();
      const ada = await adaContext.newPage();
      const bob = await (await browser.newContext()).newPage();
      const errors: string[] = [];
      for (const page of [ada, bob]) page.on("pageerror", (e) => errors.push(e.message));

      // Signed out, the page is the sign-in form, not the chat.
      await ada.goto(server.url);
      await ada.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
      const covered = await ada.getByTestId("composer").evaluate((el) => {
        const box = el.getBoundingClientRect();
        const top = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return top?.closest('[data-testid="auth-gate"]') !== null;
      });
      assert.ok(covered, "the sign-in page covers the chat");

      // The test server already has its admin: both are plain users.
      await signInPage(ada, server.url, "Ada");
      await ada.getByTestId("profile-button").click();
      await ada.getByTestId("profile-role").filter({ hasText: "User" }).waitFor();
      await ada.getByTestId("profile-button").click();
      await signInPage(bob, server.url, "Bob");

      // Ada opens a private room; Bob cannot see it.
      await createRoomInUi(ada, "secret", { kind: "private" });
      await roomItem(ada, "secret").getByTestId("room-lock").waitFor();
      await ada.getByTestId("composer").waitFor({ state: "visible" });
      await say(ada, "just us here");
      await ada.getByTestId("message-text").filter({ hasText: "just us here" }).waitFor();
      assert.equal(await roomItem(bob, "secret").count(), 0, "a private room stays out of sight");

      // Ada invites Bob from the settings panel.
      await openSettings(ada);
      await ada.getByTestId("invite-input").fill("Bob");
      await ada.getByTestId("invite-submit").click();
      await ada.getByTestId("invite-result").filter({ hasText: "Invited Bob" }).waitFor();
      await closeSettings(ada);

      // Bob now sees it, joins, reads what was said, and they chat both ways.
      await roomItem(bob, "secret").click();
      await bob.getByTestId("message-text").filter({ hasText: "just us here" }).waitFor();
      await say(bob, "thanks for the invite");
      await ada.getByTestId("message-text").filter({ hasText: "thanks for the invite" })
        .waitFor();
      await say(ada, "welcome, Bob");
      await bob.getByTestId("message-text").filter({ hasText: "welcome, Bob" }).waitFor();

      // Ada gives the room a title and a topic; Bob's list and header follow.
      await openSettings(ada);
      await ada.getByTestId("settings-title").fill("Secret Club");
      await ada.getByTestId("settings-topic").fill("members only");
      await ada.getByTestId("settings-save").click();
      await ada.getByTestId("settings-save").and(ada.locator(":disabled")).waitFor();
      await closeSettings(ada);
      await roomItem(bob, "secret").getByTestId("room-label").filter({ hasText: "Secret Club" })
        .waitFor();
      await bob.getByTestId("room-title").filter({ hasText: "Secret Club" }).waitFor();
      await bob.locator(".topic").filter({ hasText: "members only" }).waitFor();
      await ada.getByTestId("system-line").filter({ hasText: "You changed the room settings" })
        .waitFor();

      // Bob, a plain member, sees the members but no moderation controls.
      await openSettings(bob);
      await memberRow(bob, "Ada").waitFor();
      await memberRow(bob, "Bob").waitFor();
      for (
        const id of [
          "member-kick",
          "member-ban",
          "member-mute",
          "member-role-select",
          "invite-input",
          "settings-title",
          "room-delete",
          "modlog-toggle",
        ]
      ) {
        assert.equal(await bob.getByTestId(id).count(), 0, `${id} is hidden from a member`);
      }
      await closeSettings(bob);
      // ... and may not delete Ada's messages, only his own.
      const adaLine = bob.getByTestId("message").filter({ hasText: "welcome, Bob" });
      assert.equal(await adaLine.getByTestId("message-delete").count(), 0);

      // Ada created the room, so she owns it and sees them; she mutes Bob for 10 minutes.
      await openSettings(ada);
      const bobRow = memberRow(ada, "Bob");
      await bobRow.getByTestId("member-kick").waitFor();
      await bobRow.getByTestId("member-mute-duration").selectOption("10");
      await bobRow.getByTestId("member-mute").click();
      await bobRow.getByTestId("member-muted").waitFor();
      await ada.screenshot({ path: new URL("auth-ada-settings.png", OUTPUT).pathname });
      await closeSettings(ada);
      await ada.getByTestId("system-line").filter({ hasText: "You muted Bob for 10 min" })
        .waitFor();
      await bob.getByTestId("system-line").filter({ hasText: "Ada muted you for 10 min" })
        .waitFor();
      await bob.getByTestId("composer-blocked").filter({ hasText: "muted until" }).waitFor();
      assert.equal(await bob.getByTestId("composer").isDisabled(), true);
      await bob.screenshot({ path: new URL("auth-bob-muted.png", OUTPUT).pathname });

      await openSettings(ada);
      await memberRow(ada, "Bob").getByTestId("member-unmute").click();
      await memberRow(ada, "Bob").getByTestId("member-muted").waitFor({ state: "detached" });
      await closeSettings(ada);
      await bob.getByTestId("composer-blocked").waitFor({ state: "detached" });
      await say(bob, "I can speak again");
      await ada.getByTestId("message-text").filter({ hasText: "I can speak again" }).waitFor();

      // A direct message from a name in the timeline; Ada finds it under Direct messages.
      await bob.getByTestId("message").filter({ hasText: "welcome, Bob" })
        .getByTestId("message-author").click();
      await bob.getByTestId("user-message").click();
      await bob.getByTestId("room-title").filter({ hasText: "Ada" }).waitFor();
      await say(bob, "psst, Ada");
      const dm = ada.getByTestId("dm-list").getByTestId("room-item").filter({ hasText: "Bob" });
      await dm.click();
      await ada.getByTestId("message-text").filter({ hasText: "psst, Ada" }).waitFor();
      await say(ada, "psst yourself");
      await bob.getByTestId("message-text").filter({ hasText: "psst yourself" }).waitFor();
      await ada.screenshot({ path: new URL("auth-ada-dm.png", OUTPUT).pathname });

      // In an announcement room only moderators post; Bob reads, his composer says why.
      await createRoomInUi(ada, "news", { kind: "announcement" });
      await say(ada, "big news");
      await roomItem(bob, "news").getByTestId("room-announcement").waitFor();
      await roomItem(bob, "news").click();
      await bob.getByTestId("message-text").filter({ hasText: "big news" }).waitFor();
      await bob.getByTestId("composer-blocked").filter({ hasText: "Only moderators" }).waitFor();

      // Ada kicks Bob out of the private room: it leaves his list, with a notice.
      await roomItem(ada, "secret").click();
      await openSettings(ada);
      await memberRow(ada, "Bob").getByTestId("member-kick").click();
      await memberRow(ada, "Bob").waitFor({ state: "detached" });
      // The moderation log keeps what happened, newest first.
      await ada.getByTestId("modlog-toggle").click();
      await ada.getByTestId("modlog-entry").first().filter({ hasText: "You kicked Bob" }).waitFor();
      const log = await ada.getByTestId("modlog-entry").allInnerTexts();
      for (const line of ["You invited Bob", "You muted Bob for 10 min", "You unmuted Bob"]) {
        assert.ok(log.some((l) => l.includes(line)), `${line} in ${log}`);
      }
      await closeSettings(ada);
      await bob.getByTestId("notice").filter({ hasText: "You were kicked from #Secret Club" })
        .waitFor();
      await roomItem(bob, "secret").waitFor({ state: "detached" });

      // Log out returns to the sign-in page; a wrong password is refused in words.
      await bob.getByTestId("profile-button").click();
      await bob.getByTestId("logout").click();
      await bob.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
      await bob.getByTestId("auth-message").filter({ hasText: "signed out" }).waitFor();
      await submitAuth(bob, "signin", "Bob", "not-the-password-1");
      await bob.locator('[data-testid="auth-error"][data-code="invalid_credentials"]').waitFor();
      await submitAuth(bob, "signin", "Bob", passwordFor("Bob"));
      await bob.locator('[data-testid="status"][data-state="connected"]').waitFor();

      // Log out everywhere: Ada's other tab is signed out too (its socket closes with 4004).
      const adaTab = await adaContext.newPage();
      adaTab.on("pageerror", (e) => errors.push(e.message));
      await signInPage(adaTab, server.url, "Ada");
      await ada.getByTestId("profile-button").click();
      await ada.getByTestId("logout-everywhere").click();
      await ada.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
      await adaTab.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
      await adaTab.getByTestId("auth-message").filter({ hasText: "You were signed out" })
        .waitFor();
      await ada.screenshot({ path: new URL("auth-signed-out.png", OUTPUT).pathname });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

browserTest(
  "browser: an invitation-only server asks for a code; guests read and post in public rooms",
  async () => {
    const server = await startServer({ registration: "invite", guests: true });
    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext()).newPage();
      const guest = await (await browser.newContext()).newPage();
      const errors: string[] = [];
      for (const p of [page, guest]) p.on("pageerror", (e) => errors.push(e.message));

      // Without a code the server refuses, and the page says why.
      await page.goto(server.url);
      await page.getByTestId("auth-mode-register").click();
      await page.getByTestId("auth-invite").waitFor();
      await submitAuth(page, "register", "Cleo");
      await page.locator('[data-testid="auth-error"][data-code="invalid_invite"]').waitFor();
      const root = await server.app.accounts.byName("root");
      assert.ok(root);
      const { code } = await server.app.accounts.createInvite(root.id);
      await page.getByTestId("auth-invite").fill(code);
      await page.getByTestId("auth-submit").click();
      await page.locator('[data-testid="status"][data-state="connected"]').waitFor();

      // A guest has no account: no room creation, but may post in a public room.
      await guest.goto(server.url);
      await guest.getByTestId("auth-guest").click();
      await guest.locator('[data-testid="status"][data-state="connected"]').waitFor();
      await guest.getByTestId("profile-button").click();
      await guest.getByTestId("profile-role").filter({ hasText: "Guest" }).waitFor();
      await guest.getByTestId("profile-button").click();
      // The room list is there, without its "New room" button.
      await roomItem(guest, "general").waitFor();
      assert.equal(await guest.getByTestId("new-room").count(), 0, "guests create no rooms");
      await roomItem(guest, "general").click();
      await say(guest, "hello from a guest");
      await page.getByTestId("message-text").filter({ hasText: "hello from a guest" }).waitFor();
      // Guests start no direct messages either: the card offers none.
      await say(page, "welcome, guest");
      await guest.getByTestId("message").filter({ hasText: "welcome, guest" })
        .getByTestId("message-author").click();
      await guest.getByTestId("user-card").filter({ hasText: "Guests cannot" }).waitFor();
      assert.equal(await guest.getByTestId("user-message").count(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

browserTest("browser: a closed server offers no account creation", async () => {
  const server = await startServer({ registration: "closed" });
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(server.url);
    await page.getByTestId("auth-username").waitFor();
    assert.equal(await page.getByTestId("auth-mode-register").count(), 0);
    assert.equal(await page.getByTestId("auth-guest").count(), 0, "guests are off by default");
    // Guessing is throttled; the page says how long to wait, and when it is over.
    await page.getByTestId("auth-username").fill("root");
    await page.getByTestId("auth-password").fill("not-the-root-password");
    const error = page.getByTestId("auth-error");
    const limited = page.locator('[data-testid="auth-error"][data-code="rate_limited"]');
    const submit = page.getByTestId("auth-submit");
    for (let i = 0; !(await limited.isVisible()); i++) {
      assert.ok(i < 12, "wrong passwords were never throttled");
      await submit.click();
      await limited.or(page.locator('[data-testid="auth-submit"]:enabled')).first().waitFor();
    }
    assert.match(await error.innerText(), /Try again in \d+ s/);
    assert.equal(await submit.isDisabled(), true, "no submitting while throttled");
    await error.filter({ hasText: "You can try again now" }).waitFor({ timeout: 20_000 });
    await page.getByTestId("auth-password").fill(ROOT.password);
    await page.getByTestId("auth-submit").click();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor();
    await page.getByTestId("profile-button").click();
    await page.getByTestId("profile-role").filter({ hasText: "Admin" }).waitFor();
  } finally {
    await browser.close();
    await server.close();
  }
});
