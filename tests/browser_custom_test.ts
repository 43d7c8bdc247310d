/**
 * Customizing Parley, in a real Chromium: slash commands in the composer, /me actions,
 * application pushes, and a server mounted under a base path inside another app with
 * its own branding and some features switched off.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createChatServer } from "../mod.ts";
import {
  browserTest,
  createRoomInUi,
  launchChromium,
  OUTPUT,
  roomItem,
  say,
  signInPage,
} from "./browser.ts";
import { ROOT, startServer, type TestServer } from "./helpers.ts";

const commandNames = (page: Page) =>
  page.getByTestId("command-item").evaluateAll((els) =>
    els.map((el) => (el as HTMLElement).dataset.name)
  );

browserTest(
  "browser: slash commands complete and run, /me is an action, /kick removes, pushes are ignored",
  async () => {
    let server: TestServer | null = await startServer();
    const browser = await launchChromium();
    try {
      const ada = await (await browser.newContext()).newPage();
      const bob = await (await browser.newContext()).newPage();
      const errors: string[] = [];
      for (const page of [ada, bob]) page.on("pageerror", (e) => errors.push(e.message));

      await signInPage(ada, server.url, "Ada");
      await createRoomInUi(ada, "lounge");
      await roomItem(ada, "lounge").waitFor();
      await ada.getByTestId("room-title").filter({ hasText: "lounge" }).waitFor();
      await signInPage(bob, server.url, "Bob");
      await roomItem(bob, "lounge").click();
      await ada.getByTestId("member").filter({ hasText: "Bob" }).waitFor();

      // "/" lists every command; typing filters by the name's start.
      const composer = ada.getByTestId("composer");
      await composer.fill("/");
      await ada.getByTestId("command-list").waitFor();
      const all = await commandNames(ada);
      for (const name of ["me", "topic", "invite", "kick", "ban", "mute", "leave", "help"]) {
        assert.ok(all.includes(name), `/${name} is offered`);
      }
      await composer.fill("/he");
      await ada.locator('[data-testid="command-item"][data-name="help"]').waitFor();
      assert.deepEqual(await commandNames(ada), ["help"]);
      await ada.screenshot({ path: new URL("ada-commands.png", OUTPUT).pathname });

      // Enter on /help runs it (it takes no arguments): the answer is a note for Ada only.
      await composer.press("Enter");
      const help = ada.getByTestId("command-feedback").filter({ hasText: "/kick" });
      await help.waitFor();
      assert.match(await help.innerText(), /\/me <action>/);
      assert.equal(await composer.inputValue(), "");
      assert.equal(await bob.getByTestId("command-feedback").count(), 0);
      await help.getByTestId("command-feedback-dismiss").click();
      await help.waitFor({ state: "detached" });

      // The keyboard walks the list; Tab completes the name; Escape closes.
      await composer.fill("/m");
      assert.deepEqual(await commandNames(ada), ["me", "mute"]);
      const selected = ada.locator('[data-testid="command-item"][aria-selected="true"]');
      assert.equal(await selected.getAttribute("data-name"), "me");
      await composer.press("ArrowDown");
      await ada.locator('[data-testid="command-item"][data-name="mute"][aria-selected="true"]')
        .waitFor();
      await composer.press("ArrowUp");
      await ada.locator('[data-testid="command-item"][data-name="me"][aria-selected="true"]')
        .waitFor();
      await composer.press("Tab");
      assert.equal(await composer.inputValue(), "/me ");
      await ada.getByTestId("command-list").waitFor({ state: "detached" });
      await composer.fill("/");
      await ada.getByTestId("command-list").waitFor();
      await composer.press("Escape");
      await ada.getByTestId("command-list").waitFor({ state: "detached" });

      // /me posts an action, shown to everyone as "* Ada waves".
      await say(ada, "/me waves");
      const action = bob.getByTestId("message-action").filter({ hasText: "waves" });
      await action.waitFor();
      assert.equal((await action.innerText()).trim(), "* Ada waves");
      assert.equal(
        await action.evaluate((el) => getComputedStyle(el).fontStyle),
        "italic",
      );
      await ada.getByTestId("message-action").filter({ hasText: "Ada waves" }).waitFor();
      assert.equal(await ada.getByTestId("message-text").filter({ hasText: "/me" }).count(), 0);

      // An unknown command is refused; the text stays to be fixed.
      await say(ada, "/frobnicate now");
      await ada.getByTestId("command-error").filter({ hasText: "/help" }).waitFor();
      assert.equal(await composer.inputValue(), "/frobnicate now");
      // Bob, a plain member, may not kick: the server's refusal shows as an error.
      await say(bob, "/kick ada");
      await bob.getByTestId("command-error").waitFor();
      await composer.fill("");

      // An application's push reaches the page; unknown ones are dropped without a fuss.
      await bob.evaluate(() => {
        const names: string[] = [];
        (globalThis as { __pushes?: string[] }).__pushes = names;
        addEventListener("parley:custom", (e) => names.push((e as CustomEvent).detail.name));
      });
      server.app.hub.pushCustom({ room: "lounge" }, "x.test.ping", { n: 1 });
      server.app.hub.pushCustom({ room: "lounge" }, "x.test.unknown", ["anything", null]);
      await bob.waitForFunction(() =>
        ((globalThis as { __pushes?: string[] }).__pushes ?? []).length === 2
      );

      // Ada owns the room: "/kick bob" removes Bob, who is told.
      await say(ada, "/kick bob");
      await ada.getByTestId("command-feedback").filter({ hasText: "Kicked bob." }).waitFor();
      await bob.getByTestId("notice").filter({ hasText: "You were kicked from #lounge" })
        .waitFor();
      await ada.getByTestId("member").filter({ hasText: "Bob" }).waitFor({ state: "detached" });
      await ada.getByTestId("system-line").filter({ hasText: "Bob" }).first().waitFor();
      await ada.screenshot({ path: new URL("ada-kick.png", OUTPUT).pathname });

      // Commands are not messages: offline, they say so instead of waiting in the outbox.
      await server.close();
      server = null;
      await ada.locator('[data-testid="status"][data-state="offline"]').waitFor();
      await say(ada, "/topic while away");
      await ada.getByTestId("command-error").filter({ hasText: "offline" }).waitFor();
      assert.equal(await ada.getByTestId("pending").count(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server?.close();
    }
  },
);

/** A data: URL logo, as the CSP allows (img-src 'self' data:). */
const LOGO = "data:image/svg+xml," +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">' +
      '<circle cx="16" cy="16" r="14" fill="#e11d48"/></svg>',
  );

browserTest(
  "browser: mounted under /chat with branding; switched-off features leave no trace",
  async () => {
    const chat = await createChatServer({
      data: ":memory:",
      log: "silent",
      auth: { passwordCost: 12 },
      basePath: "/chat",
      branding: { title: "Acme Chat", accent: "#e11d48", logo: LOGO },
      features: { directMessages: false, receipts: false, edits: false },
    });
    await chat.accounts.register(ROOT, { asAdmin: true });
    const app = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      (req, info) =>
        new URL(req.url).pathname.startsWith("/chat")
          ? chat.fetch(req, info)
          : new Response("app home"),
    );
    const origin = `http://127.0.0.1:${app.addr.port}`;
    const browser = await launchChromium();
    try {
      const ada = await (await browser.newContext()).newPage();
      const bob = await (await browser.newContext()).newPage();
      const errors: string[] = [];
      const outside: string[] = [];
      const sockets: string[] = [];
      for (const page of [ada, bob]) {
        page.on("pageerror", (e) => errors.push(e.message));
        // Everything the client asks of this origin goes under the base path.
        page.on("request", (r) => {
          const url = new URL(r.url());
          if (url.origin === origin && !url.pathname.startsWith("/chat/")) {
            outside.push(url.pathname);
          }
        });
        page.on("websocket", (ws) => sockets.push(new URL(ws.url()).pathname));
      }

      // The application still owns everything else.
      assert.equal(await (await fetch(`${origin}/`)).text(), "app home");

      await signInPage(ada, `${origin}/chat/`, "Ada");
      await signInPage(bob, `${origin}/chat/`, "Bob");
      assert.deepEqual(sockets, ["/chat/ws", "/chat/ws"]);

      // Branding: title, logo with alt text, and the accent on buttons.
      assert.equal(await ada.title(), "Acme Chat");
      await ada.getByTestId("brand-title").filter({ hasText: "Acme Chat" }).waitFor();
      const logo = ada.getByTestId("brand-logo");
      assert.equal(await logo.getAttribute("alt"), "Acme Chat logo");
      assert.ok(await logo.evaluate((img) => (img as HTMLImageElement).naturalWidth > 0));
      await ada.getByTestId("new-room").click();
      const newRoom = ada.getByTestId("new-room-dialog");
      const accent = await newRoom.getByTestId("room-create").evaluate((el) =>
        getComputedStyle(el).backgroundColor
      );
      assert.equal(accent, "rgb(225, 29, 72)");
      await ada.keyboard.press("Escape");
      await newRoom.waitFor({ state: "detached" });
      assert.equal(
        await ada.locator('link[rel="stylesheet"][href="/chat/branding.css"]').count(),
        1,
      );

      // Chatting works through /chat/ws.
      await say(ada, "hello from under /chat");
      await bob.getByTestId("message-text").filter({ hasText: "hello from under /chat" })
        .waitFor();
      await say(bob, "hi Ada");
      await ada.getByTestId("message-text").filter({ hasText: "hi Ada" }).waitFor();
      await say(ada, "/me waves");
      await bob.getByTestId("message-action").filter({ hasText: "Ada waves" }).waitFor();
      await ada.screenshot({ path: new URL("ada-branded.png", OUTPUT).pathname });

      // No direct messages: names open nothing, there is no section and no Message button.
      await ada.getByTestId("member").filter({ hasText: "Bob" }).waitFor();
      assert.equal(await ada.getByTestId("member-name").count(), 0);
      assert.equal(await ada.locator("button.message-author").count(), 0);
      await ada.getByTestId("message-author").filter({ hasText: "Bob" }).click();
      assert.equal(await ada.getByTestId("user-card").count(), 0);
      assert.equal(await ada.getByTestId("dm-list").count(), 0);
      await ada.getByTestId("room-settings").click();
      await ada.locator('[data-testid="settings-member"][data-name="Bob"]').waitFor();
      assert.equal(await ada.getByTestId("member-dm").count(), 0);
      // No receipts either: neither when creating a room nor in its settings.
      assert.equal(await ada.getByTestId("settings-receipts").count(), 0);
      await ada.getByTestId("settings-close").click();
      await ada.getByTestId("new-room").click();
      await newRoom.getByTestId("room-kind").waitFor();
      assert.equal(await ada.getByTestId("room-receipts").count(), 0);
      await ada.keyboard.press("Escape");
      await newRoom.waitFor({ state: "detached" });
      assert.equal(await ada.getByTestId("receipts").count(), 0);

      // No edits: no Edit button on her own message, and ArrowUp does not start one.
      const own = ada.getByTestId("message").filter({ hasText: "hello from under /chat" });
      await own.hover();
      assert.equal(await ada.getByTestId("message-edit").count(), 0);
      await ada.getByTestId("composer").focus();
      await ada.getByTestId("composer").press("ArrowUp");
      assert.equal(await ada.getByTestId("message-edit-input").count(), 0);

      // A reload under the base path keeps the session (the cookie path covers /chat).
      await ada.reload();
      await ada.locator('[data-testid="status"][data-state="connected"]').waitFor();
      await ada.getByTestId("message-text").filter({ hasText: "hi Ada" }).waitFor();

      assert.deepEqual(outside, [], "no request left the base path");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await app.shutdown();
      await chat.close();
    }
  },
);
