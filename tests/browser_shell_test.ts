/**
 * The shell around the timeline, in a real Chromium: two people in browser contexts of
 * their own, one on a desktop (1280×800), one on a phone (390×844, touch). Rooms are
 * made from the "+" dialog and found in the directory; direct messages start from a
 * user's card and from the "New message" picker; "@" completes names and mentions show
 * as badges, in the tab title and as desktop notifications; replies, editing with Up,
 * Alt+Down, files (picked, dropped, pasted) and search are driven by clicking and typing.
 * axe-core checks each dialog: nothing serious or critical.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import axe from "axe-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  browserTest,
  createRoomInUi,
  launchChromium,
  openRoom,
  roomItem,
  say,
  showRooms,
  signInPage,
} from "./browser.ts";
import type { Config } from "../server/config.ts";
import { startServer, type TestServer } from "./helpers.ts";

const OUT = new URL("./output/", import.meta.url);
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/**
 * Before any page script: notifications are recorded instead of shown, and the test
 * decides whether the page counts as hidden (`__setHidden`).
 */
const INIT = `(() => {
  const Real = globalThis.Notification;
  globalThis.__notes = [];
  function Fake(title, options) {
    globalThis.__notes.push({ title, body: options && options.body, tag: options && options.tag });
    this.close = () => {};
    this.onclick = null;
    globalThis.__lastNote = this;
  }
  Fake.requestPermission = () => Real ? Real.requestPermission() : Promise.resolve("granted");
  Object.defineProperty(Fake, "permission", { get: () => Real ? Real.permission : "granted" });
  globalThis.Notification = Fake;
  let hidden = false;
  Object.defineProperty(document, "visibilityState", { get: () => hidden ? "hidden" : "visible" });
  Object.defineProperty(document, "hidden", { get: () => hidden });
  globalThis.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();`;

async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(OUT, { recursive: true });
  await page.screenshot({ path: new URL(`shell-${name}.png`, OUT).pathname });
}

const SEVERE = new Set(["serious", "critical"]);

interface Pair {
  server: TestServer;
  browser: Browser;
  ada: Page;
  bob: Page;
  adaContext: BrowserContext;
  bobContext: BrowserContext;
  errors: string[];
  severe: string[];
  audit(page: Page, where: string): Promise<void>;
  close(): Promise<void>;
}

/** A server, Ada on a desktop and Bob on a phone, both signed in. */
async function pair(overrides: Partial<Config> = {}): Promise<Pair> {
  const names = ["Ada", "Bob"];
  const server = await startServer(overrides);
  const browser = await launchChromium();
  const adaContext = await browser.newContext(DESKTOP);
  const bobContext = await browser.newContext(PHONE);
  const errors: string[] = [];
  const pages: Page[] = [];
  for (const context of [adaContext, bobContext]) {
    await context.grantPermissions(["notifications"], { origin: server.url });
    await context.addInitScript(INIT);
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    pages.push(page);
  }
  const [ada, bob] = pages as [Page, Page];
  await signInPage(ada, server.url, names[0]!);
  await signInPage(bob, server.url, names[1]!);
  const severe: string[] = [];
  return {
    server,
    browser,
    ada,
    bob,
    adaContext,
    bobContext,
    errors,
    severe,
    async audit(page, where) {
      severe.push(...await auditPage(page, where));
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/**
 * axe over the page as it is: the serious and critical findings. Its source is evaluated
 * through the debugging protocol, which the page's CSP (no inline script) does not stop.
 */
async function auditPage(page: Page, where: string): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) {
    await page.evaluate(axe.source);
  }
  const found = await page.evaluate(async () => {
    const run = (globalThis as unknown as { axe: typeof axe }).axe.run;
    const { violations } = await run(document, { resultTypes: ["violations"] });
    return violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? null,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  return found.filter((f) => SEVERE.has(f.impact ?? "")).map((f) =>
    `${where}: ${f.impact} ${f.id} at ${f.targets.join(", ")}`
  );
}

const noHorizontalScroll = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1);

browserTest(
  "shell: + dialog creates rooms; DMs from a user card and the New message picker",
  async () => {
    const t = await pair();
    const { ada, bob } = t;
    try {
      await ada.getByTestId("new-room").click();
      await ada.getByTestId("new-room-dialog").waitFor();
      await t.audit(ada, "desktop new-room dialog");
      await shot(ada, "desktop-new-room");
      // Escape closes it, and the focus goes back to the "+" button.
      await ada.keyboard.press("Escape");
      await ada.getByTestId("new-room-dialog").waitFor({ state: "detached" });
      assert.equal(
        await ada.evaluate(() => document.activeElement?.getAttribute("data-testid")),
        "new-room",
      );
      await createRoomInUi(ada, "garden", { title: "The Garden", topic: "Plants and seeds" });
      await ada.getByTestId("room-title").filter({ hasText: "The Garden" }).waitFor();
      await say(ada, "welcome to the garden");

      // On the phone the dialog is full-screen.
      await showRooms(bob);
      await bob.getByTestId("new-room").click();
      const box = await bob.getByTestId("new-room-dialog").boundingBox();
      assert.ok(
        box && box.width >= 389 && box.height >= 843,
        `full-screen: ${JSON.stringify(box)}`,
      );
      await t.audit(bob, "phone new-room dialog");
      await shot(bob, "phone-new-room");
      await bob.getByTestId("dialog-close").click();
      await openRoom(bob, "garden");
      await bob.getByTestId("message-text").filter({ hasText: "welcome to the garden" }).waitFor();
      await say(bob, "hello garden");

      // A direct message from Bob's name in the timeline: his card, then "Message".
      await ada.getByTestId("message-author").filter({ hasText: "Bob" }).first().click();
      const card = ada.getByTestId("user-card");
      await card.waitFor();
      await t.audit(ada, "desktop user card");
      await card.getByTestId("user-message").click();
      await card.waitFor({ state: "detached" });
      await ada.getByTestId("room-title").filter({ hasText: "Bob" }).waitFor();
      await say(ada, "psst, Bob");
      await showRooms(bob);
      await bob.locator('[data-testid="dm-list"] [data-testid="room-item"]').filter({
        hasText: "Ada",
      }).waitFor();

      // The picker: suggestions from shared rooms, and anyone by their exact name.
      const cleo = await (await t.browser.newContext(DESKTOP)).newPage();
      await signInPage(cleo, t.server.url, "Cleo");
      await bob.getByTestId("new-dm").click();
      const picker = bob.getByTestId("dm-picker");
      await picker.waitFor();
      await picker.getByTestId("dm-picker-input").fill("ad");
      await picker.locator('[data-testid="dm-option"][data-name="Ada"]').waitFor();
      await t.audit(bob, "phone new-message dialog");
      await shot(bob, "phone-new-message");
      await picker.getByTestId("dm-picker-input").fill("Cleo");
      await picker.locator('[data-testid="dm-option"][data-name="Cleo"]').waitFor();
      await picker.getByTestId("dm-picker-input").press("Enter");
      await picker.waitFor({ state: "detached" });
      await bob.getByTestId("room-title").filter({ hasText: "Cleo" }).waitFor();
      await say(bob, "hi Cleo");
      await cleo.getByTestId("room-item").filter({ hasText: "Bob" }).waitFor();
      assert.ok(await noHorizontalScroll(bob), "no horizontal scroll on the phone");

      assert.deepEqual(t.errors, []);
      assert.deepEqual(t.severe, [], "serious or critical axe violations");
    } finally {
      await t.close();
    }
  },
);

browserTest(
  "shell: the directory lists public rooms with member counts and joins one",
  async () => {
    const t = await pair();
    const { ada, bob } = t;
    try {
      await createRoomInUi(ada, "garden", { title: "The Garden", topic: "Plants and seeds" });
      await createRoomInUi(ada, "kitchen", { topic: "Recipes" });
      await createRoomInUi(ada, "vault", { kind: "private" });

      await showRooms(bob);
      await bob.getByTestId("browse-rooms").click();
      const directory = bob.getByTestId("directory-dialog");
      await directory.waitFor();
      const garden = directory.locator('[data-testid="directory-room"][data-room="garden"]');
      await garden.waitFor();
      assert.match(await garden.innerText(), /The Garden/);
      assert.match(await garden.innerText(), /Plants and seeds/);
      assert.match(await garden.getByTestId("directory-members").innerText(), /^1 member/);
      assert.equal(
        await directory.locator('[data-room="vault"]').count(),
        0,
        "private room listed",
      );
      assert.ok(await noHorizontalScroll(bob), "no horizontal scroll in the directory");
      await t.audit(bob, "phone directory dialog");
      await shot(bob, "phone-directory");
      await directory.getByTestId("directory-query").fill("recipes");
      await directory.locator('[data-room="garden"]').waitFor({ state: "detached" });
      await directory.locator('[data-testid="directory-room"][data-room="kitchen"]').waitFor();
      await directory.getByTestId("directory-query").fill("");
      await garden.getByTestId("directory-join").click();
      await directory.waitFor({ state: "detached" });
      await bob.getByTestId("room-title").filter({ hasText: "The Garden" }).waitFor();
      await say(bob, "hello garden");
      await openRoom(ada, "garden");
      await ada.getByTestId("message-text").filter({ hasText: "hello garden" }).first().waitFor();

      // Ada looks again: two members now.
      await ada.getByTestId("browse-rooms").click();
      await ada.locator(
        '[data-testid="directory-dialog"] [data-room="garden"] [data-testid="directory-members"]',
      ).filter({ hasText: /^2 members/ }).waitFor();
      await t.audit(ada, "desktop directory dialog");
      await shot(ada, "desktop-directory");
      await ada.keyboard.press("Escape");
      assert.deepEqual(t.errors, []);
      assert.deepEqual(t.severe, [], "serious or critical axe violations");
    } finally {
      await t.close();
    }
  },
);

const title = (page: Page) => page.evaluate(() => document.title);

browserTest("shell: @ completes names; mention badge, tab title and notification", async () => {
  const t = await pair();
  const { ada, bob } = t;
  try {
    await createRoomInUi(ada, "lounge");
    await openRoom(bob, "lounge");
    await say(bob, "here");
    await ada.getByTestId("message-text").filter({ hasText: "here" }).waitFor();
    // Bob reads elsewhere, with notifications on, in a hidden tab.
    await openRoom(bob, "general");
    await bob.getByTestId("notify-toggle").click();
    await bob.locator('[data-testid="notify-toggle"][aria-pressed="true"]').waitFor();
    await bob.evaluate(() =>
      (globalThis as unknown as { __setHidden(v: boolean): void }).__setHidden(true)
    );

    // Ada types "@b": the list offers Bob; Enter puts him in the box.
    const composer = ada.getByTestId("composer");
    await composer.pressSequentially("hey @b", { delay: 30 });
    const list = ada.getByTestId("suggest-list");
    await list.locator('[data-testid="suggest-item"][data-insert="@Bob"]').waitFor();
    assert.equal(await composer.getAttribute("aria-activedescendant"), "mention-Bob");
    await shot(ada, "desktop-mention-list");
    await t.audit(ada, "desktop mention list");
    await composer.press("Enter");
    await list.waitFor({ state: "detached" });
    assert.equal(await composer.inputValue(), "hey @Bob ");
    await composer.pressSequentially("lunch? :ta", { delay: 30 });
    await ada.getByTestId("suggest-list").waitFor();
    await composer.press("Escape");
    await ada.getByTestId("suggest-list").waitFor({ state: "detached" });
    await composer.press("Backspace");
    await composer.press("Backspace");
    await composer.press("Backspace");
    await composer.press("Enter");
    await ada.getByTestId("message-text").filter({ hasText: "lunch?" }).waitFor();

    // Bob: a mention badge on the lounge, the counts in the title, a notification.
    await showRooms(bob);
    const badge = roomItem(bob, "lounge").getByTestId("room-mentions");
    await badge.waitFor();
    assert.equal(await badge.innerText(), "@1");
    assert.match(await title(bob), /^\(1\) @1 · /);
    const notes = await bob.evaluate(() =>
      (globalThis as unknown as { __notes: { title: string; body: string }[] }).__notes
    );
    assert.equal(notes.length, 1);
    assert.equal(notes[0]!.title, "Ada in #lounge");
    assert.match(notes[0]!.body, /hey @Bob lunch\?/);
    await bob.waitForTimeout(300); // the drawer slides in
    await shot(bob, "phone-mention-badge");

    // Back in the tab, reading the lounge clears both.
    await bob.evaluate(() =>
      (globalThis as unknown as { __setHidden(v: boolean): void }).__setHidden(false)
    );
    await roomItem(bob, "lounge").click();
    await badge.waitFor({ state: "detached" });
    await bob.waitForFunction(() => !document.title.includes("@"));
    assert.equal(await title(bob), "Parley");

    // A direct message to a hidden tab notifies too; clicking it opens the room.
    await bob.evaluate(() =>
      (globalThis as unknown as { __setHidden(v: boolean): void }).__setHidden(true)
    );
    await ada.getByTestId("message-author").filter({ hasText: "Bob" }).first().click();
    await ada.getByTestId("user-message").click();
    await ada.getByTestId("room-title").filter({ hasText: "Bob" }).waitFor();
    await say(ada, "a private word");
    await bob.waitForFunction(() =>
      (globalThis as unknown as { __notes: unknown[] }).__notes.length === 2
    );
    await bob.evaluate(() => {
      const note = (globalThis as unknown as { __lastNote: { onclick(): void } }).__lastNote;
      note.onclick();
    });
    await bob.getByTestId("message-text").filter({ hasText: "a private word" }).waitFor();
    assert.deepEqual(t.errors, []);
    assert.deepEqual(t.severe, [], "serious or critical axe violations");
  } finally {
    await t.close();
  }
});

browserTest("shell: reply bar, Up edits and Esc cancels, Alt+Down switches rooms", async () => {
  const t = await pair();
  const { ada, bob } = t;
  try {
    await createRoomInUi(ada, "lounge");
    await openRoom(bob, "lounge");
    await say(bob, "who brings the cake?");
    const original = ada.getByTestId("message").filter({ hasText: "who brings the cake?" });
    await original.waitFor();
    await original.hover();
    await original.getByTestId("message-reply").click();
    const bar = ada.getByTestId("reply-bar");
    await bar.waitFor();
    assert.match(await bar.innerText(), /Replying to Bob: who brings the cake\?/);
    // Esc cancels the reply; Reply again and send.
    await ada.getByTestId("composer").press("Escape");
    await bar.waitFor({ state: "detached" });
    await original.hover();
    await original.getByTestId("message-reply").click();
    await bar.waitFor();
    await shot(ada, "desktop-reply-bar");
    await say(ada, "I will");
    await bar.waitFor({ state: "detached" });
    const reply = bob.getByTestId("message").filter({ hasText: "I will" });
    await reply.waitFor();

    // Up in the empty box edits the last own message; Esc cancels.
    const composer = ada.getByTestId("composer");
    await composer.click();
    await composer.press("ArrowUp");
    const editing = ada.locator(".message.editing");
    await editing.waitFor();
    await ada.keyboard.press("Escape");
    await editing.waitFor({ state: "detached" });

    // Alt+Down goes to the next room of the list, Alt+Up back.
    await composer.press("Alt+ArrowDown");
    await ada.getByTestId("room-title").filter({ hasText: "lounge" }).waitFor({
      state: "detached",
    });
    const next = await ada.getByTestId("room-title").innerText();
    await ada.keyboard.press("Alt+ArrowUp");
    await ada.getByTestId("room-title").filter({ hasText: "lounge" }).waitFor();
    assert.notEqual(next, "#lounge");
    // The reply went out as one: Bob's copy quotes what it answers.
    await openRoom(bob, "lounge");
    assert.match(await reply.innerText(), /who brings the cake\?/, "the reply quotes the original");
    assert.deepEqual(t.errors, []);
  } finally {
    await t.close();
  }
});

/** A 1×1 PNG. */
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

browserTest(
  "shell: files attached by picking, dropping and pasting reach the other side",
  async () => {
    const t = await pair({ maxUploadBytes: 4096 });
    const { ada, bob } = t;
    try {
      await createRoomInUi(ada, "photos");
      await openRoom(bob, "photos");
      await say(bob, "show me");
      await ada.getByTestId("message-text").filter({ hasText: "show me" }).waitFor();

      // Too large for this server: its reason shows, and the file can be taken away.
      await ada.getByTestId("file-input").setInputFiles({
        name: "big.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.alloc(10_000),
      });
      const failed = ada.getByTestId("attachment-error");
      await failed.waitFor();
      assert.match(await failed.innerText(), /file_too_large/);
      await shot(ada, "desktop-upload-too-large");
      await ada.getByTestId("attachment-remove").click();
      await failed.waitFor({ state: "detached" });

      // Picked with the attach button's file input; the caption goes with it.
      await ada.getByTestId("file-input").setInputFiles({
        name: "red.png",
        mimeType: "image/png",
        buffer: Buffer.from(PNG),
      });
      const chip = ada.getByTestId("attachment");
      await ada.locator('[data-testid="attachment"][data-state="ready"]').waitFor();
      assert.equal(await chip.getByRole("progressbar").getAttribute("aria-valuenow"), "100");
      await shot(ada, "desktop-attachment");
      await say(ada, "a red square");
      await chip.waitFor({ state: "detached" });
      await bob.getByTestId("file-image").first().waitFor();

      // Dropped onto the timeline.
      await ada.evaluate((bytes) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
        const target = document.querySelector("main") ?? document.body;
        for (const type of ["dragover", "drop"]) {
          target.dispatchEvent(
            new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }),
          );
        }
      }, [...PNG]);
      await ada.locator('[data-testid="attachment"][data-state="ready"]').waitFor();
      await ada.getByTestId("send").click();
      await ada.getByTestId("attachment").waitFor({ state: "detached" });
      await bob.getByTestId("file-image").nth(1).waitFor();

      // Pasted into the box.
      await ada.getByTestId("composer").focus();
      await ada.evaluate((bytes) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], "pasted.png", { type: "image/png" }));
        document.querySelector("textarea")!.dispatchEvent(
          new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }),
        );
      }, [...PNG]);
      await ada.locator('[data-testid="attachment"][data-state="ready"]').waitFor();
      await ada.getByTestId("composer").press("Enter");
      await bob.getByTestId("file-image").nth(2).waitFor();
      await shot(bob, "phone-images");
      assert.deepEqual(t.errors, []);
    } finally {
      await t.close();
    }
  },
);

browserTest("shell: search finds a message across rooms and opens it in context", async () => {
  const t = await pair();
  const { ada, bob } = t;
  try {
    await createRoomInUi(ada, "archive");
    await say(ada, "the zebra crossing is on Elm street");
    for (let i = 0; i < 5; i++) await say(ada, `filler ${i}`);
    await openRoom(ada, "general");
    await say(ada, "nothing to see");

    await ada.getByTestId("search-open").click();
    const dialog = ada.getByTestId("search-dialog");
    await dialog.waitFor();
    await dialog.getByTestId("search-text").fill("zebra");
    await dialog.getByTestId("search-all").check();
    await dialog.getByTestId("search-submit").click();
    const result = dialog.locator('[data-testid="search-result"][data-room="archive"]');
    await result.waitFor();
    assert.equal(await result.locator("mark").innerText(), "zebra");
    await t.audit(ada, "desktop search dialog");
    await shot(ada, "desktop-search");
    // Only this room: general has no zebra.
    await dialog.getByTestId("search-here").check();
    await dialog.getByTestId("search-submit").click();
    await dialog.getByTestId("search-empty").waitFor();
    await dialog.getByTestId("search-all").check();
    await dialog.getByTestId("search-submit").click();
    await result.click();
    await dialog.waitFor({ state: "detached" });
    await ada.getByTestId("room-title").filter({ hasText: "archive" }).waitFor();
    await ada.getByTestId("message-text").filter({ hasText: "zebra crossing" }).waitFor();

    // On the phone, by author.
    await bob.getByTestId("search-open").click();
    const phone = bob.getByTestId("search-dialog");
    await phone.getByTestId("search-author").fill("Ada");
    await phone.getByTestId("search-all").check();
    await phone.getByTestId("search-submit").click();
    await phone.getByTestId("search-result").first().waitFor();
    assert.ok(await noHorizontalScroll(bob), "no horizontal scroll in search");
    await t.audit(bob, "phone search dialog");
    await shot(bob, "phone-search");
    assert.deepEqual(t.errors, []);
    assert.deepEqual(t.severe, [], "serious or critical axe violations");
  } finally {
    await t.close();
  }
});
