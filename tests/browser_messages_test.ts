/**
 * How messages read, in a real Chromium: Ada on a desktop, Bob on a phone, each in a
 * browser context of their own. Formatting, hostile text (inert, within the page's CSP),
 * mentions, emoji, reactions that survive a reload and a reconnect, replies that jump to
 * their original, the thread panel, image previews, grouping, the "New messages" divider,
 * "Jump to present" and paging back through history; axe over each of these views.
 */
import assert from "node:assert/strict";
import axe from "axe-core";
import type { Browser, BrowserContext, Page, WebSocketRoute } from "playwright-core";
import { browserTest, launchChromium, OUTPUT, say, signInPage } from "./browser.ts";
import { passwordFor, startServer, TestClient, type TestServer } from "./helpers.ts";

const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const ROOM = "reading";
const SEEDED = 220;

/** Everything the page must never do: CSP violations, console errors, uncaught exceptions. */
interface Watch {
  problems: string[];
}

async function watchedPage(browser: Browser, options: object): Promise<[Page, Watch]> {
  const context: BrowserContext = await browser.newContext(options);
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  const watch: Watch = { problems: [] };
  page.on("pageerror", (e) => watch.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // A reconnect the test forces is expected to be logged by Chromium.
    if (/WebSocket connection .* failed|ERR_INTERNET_DISCONNECTED/.test(m.text())) return;
    watch.problems.push(`console: ${m.text()}`);
  });
  return [page, watch];
}

function message(page: Page, text: string | RegExp) {
  return page.getByTestId("message").filter({
    has: page.getByTestId("message-text").filter({ hasText: text }),
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: new URL(`messages-${name}.png`, OUTPUT).pathname });
}

/** Run axe on the page; the serious and critical findings. */
async function severe(page: Page, where: string): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) {
    // The page's CSP forbids inline scripts: evaluate axe's source instead of a tag.
    await page.evaluate(axe.source);
  }
  const found = await page.evaluate(async () => {
    const run = (globalThis as unknown as { axe: typeof axe }).axe.run;
    const { violations } = await run(document, { resultTypes: ["violations"] });
    return violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? "",
      targets: v.nodes.map((n) => n.target.join(" ")).join(", "),
    }));
  });
  return found.filter((f) => f.impact === "serious" || f.impact === "critical")
    .map((f) => `${where}: ${f.impact} ${f.id} at ${f.targets}`);
}

async function seed(server: TestServer): Promise<void> {
  const seeder = await TestClient.connect(server, "Seeder");
  await seeder.request("room.create", { room: ROOM, topic: "reading tests" });
  // Straight into the store: the socket's rate limit would take a while. Old enough not
  // to group with what the test writes.
  for (let i = 1; i <= SEEDED; i++) {
    await server.app.hub.store.append({
      kind: "text",
      room: ROOM,
      author: seeder.user,
      text: `seed ${i}`,
      nonce: `seed-${i.toString().padStart(4, "0")}`,
    });
  }
  await seeder.close();
}

browserTest("browser: messages read well, desktop and phone", async () => {
  const server = await startServer();
  const browser = await launchChromium();
  const a11y: string[] = [];
  try {
    await seed(server);
    const [ada, adaWatch] = await watchedPage(browser, { ...DESKTOP, bypassCSP: false });
    const [bob, bobWatch] = await watchedPage(browser, PHONE);
    // Bob's socket runs through a relay the test can cut, for a reconnect.
    let relay: WebSocketRoute | null = null;
    let cut = false;
    await bob.routeWebSocket(/\/ws/, (ws) => {
      if (cut) {
        ws.close({ code: 1012 });
        return;
      }
      relay = ws;
      const upstream = ws.connectToServer();
      upstream.onMessage((data) => ws.send(data));
      ws.onMessage((data) => upstream.send(data));
    });

    await signInPage(ada, `${server.url}/#${ROOM}`, "Ada");
    await ada.getByTestId("message-text").filter({ hasText: /^seed 220$/ }).waitFor();
    await signInPage(bob, `${server.url}/#${ROOM}`, "Bob");
    await bob.getByTestId("message-text").filter({ hasText: /^seed 220$/ }).waitFor();

    // ---- grouping: one header for a run of one author's messages.
    await say(ada, "first of a run");
    await say(ada, "second of a run");
    const second = message(bob, "second of a run");
    await second.waitFor();
    assert.match((await second.getAttribute("class")) ?? "", /\bgrouped\b/);
    assert.equal(await second.getByTestId("message-author").count(), 0);
    assert.equal(await message(bob, "first of a run").getByTestId("message-author").count(), 1);

    // ---- formatting.
    await say(
      ada,
      "**bold** _italic_ ~~struck~~ `a<b`\n> a quote\n\n- one\n- two\n\n" +
        "[docs](https://example.com/docs) and https://example.com/bare :tada:\n\n" +
        "```\nconst x = 1 < 2;\n```",
    );
    const formatted = message(bob, "a quote");
    await formatted.waitFor();
    for (const selector of ["strong", "em", "del", "code.md-code", "blockquote", "ul > li"]) {
      assert.equal(
        await formatted.locator(`.message-text ${selector}`).count() > 0,
        true,
        selector,
      );
    }
    assert.equal(await formatted.locator("pre code").innerText(), "const x = 1 < 2;");
    const docs = formatted.locator('a[href="https://example.com/docs"]');
    assert.equal(await docs.getAttribute("rel"), "noopener noreferrer nofollow ugc");
    assert.equal(await docs.getAttribute("target"), "_blank");
    assert.equal(
      await formatted.locator('a[href="https://example.com/bare"]').getAttribute("rel"),
      "noopener noreferrer nofollow",
    );
    assert.equal(await formatted.locator(".emoji").innerText(), "🎉");
    await shot(ada, "desktop-formatting");
    await shot(bob, "phone-formatting");

    // ---- hostile text is inert, and stays inside the page.
    const long = "W".repeat(3000);
    await say(
      bob,
      '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> ' +
        "[click me](javascript:window.__pwned=3) [data](data:text/html,hi) " +
        `\u202egnp.exe zero\u200bwidth ${long}`,
    );
    const hostile = message(ada, "click me");
    await hostile.waitFor();
    const text = hostile.getByTestId("message-text");
    assert.equal(await text.locator("script, img, iframe").count(), 0);
    assert.equal(await text.locator("a").count(), 0, "no unsafe link became a link");
    assert.ok((await text.innerText()).includes("<script>window.__pwned=1</script>"));
    assert.ok(!(await text.innerText()).includes("\u202e"), "bidi override stripped");
    await text.getByText("[click me]", { exact: false }).click();
    for (const page of [ada, bob]) {
      assert.equal(
        await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned),
        undefined,
      );
      // The 3000-character word wraps: nothing scrolls sideways.
      const overflow = await page.locator(".timeline").evaluate((el) =>
        el.scrollWidth - el.clientWidth
      );
      assert.ok(overflow <= 1, `timeline overflows by ${overflow}px`);
    }
    await shot(ada, "desktop-hostile");

    assert.deepEqual(adaWatch.problems, []);
    assert.deepEqual(bobWatch.problems, []);
    a11y.push(...await severe(ada, "desktop formatting"), ...await severe(bob, "phone formatting"));

    // ---- jump to present, and paging back through history.
    const scroller = ada.locator(".timeline");
    await scroller.evaluate((el) => el.scrollTop = el.scrollHeight - el.clientHeight - 1500);
    await ada.getByTestId("jump-present").waitFor();
    await shot(ada, "desktop-jump-present");
    await ada.getByTestId("jump-present").click();
    await ada.getByTestId("jump-present").waitFor({ state: "detached" });
    assert.ok(
      await scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48),
    );

    for (let pages = 0;; pages++) {
      assert.ok(pages < 10, "the start of the room was never reached");
      const top = await scroller.evaluate((el) => {
        el.scrollTop = 0;
        const first = el.querySelector<HTMLElement>('[data-testid="message"]')!;
        return { seq: first.dataset.seq!, y: first.getBoundingClientRect().top };
      });
      if (top.seq === "1") break;
      await ada.waitForFunction(
        (seq) =>
          document.querySelector<HTMLElement>('[data-testid="message"]')?.dataset.seq !== seq,
        top.seq,
      );
      const y = await ada.locator(`[data-testid="message"][data-seq="${top.seq}"]`)
        .evaluate((el) => el.getBoundingClientRect().top);
      assert.ok(Math.abs(y - top.y) < 2, `the view jumped by ${y - top.y}px as a page loaded`);
    }
    await ada.getByText("This is the beginning of").waitFor();
    const seqs = await ada.getByTestId("message").evaluateAll((els) =>
      els.map((el) => Number((el as HTMLElement).dataset.seq))
    );
    assert.equal(new Set(seqs).size, seqs.length, "each message once");
    await ada.getByTestId("jump-present").click();
    await ada.getByTestId("jump-present").waitFor({ state: "detached" });

    // ---- the "New messages" divider: where Ada's read marker was when she came back.
    await ada.waitForTimeout(1200); // her read marker follows her to the end
    await ada.evaluate(() => location.hash = "#general");
    await ada.getByText("This is the beginning of #general").or(ada.getByTestId("message"))
      .first().waitFor();
    await say(bob, "while Ada was away");
    await say(bob, "and one more");
    await message(bob, "and one more").waitFor();
    await ada.evaluate((room) => location.hash = `#${room}`, ROOM);
    const divider = ada.getByTestId("new-divider");
    await divider.waitFor();
    const next = await divider.evaluate((el) =>
      el.nextElementSibling?.querySelector('[data-testid="message-text"]')?.textContent
    );
    assert.equal(next, "while Ada was away");
    await shot(ada, "desktop-new-divider");

    // What the server may not offer yet is skipped, saying so.
    const probe = await TestClient.connect(server, "Probe");
    await probe.request("room.join", { room: ROOM });
    const can = async (what: string, run: () => Promise<boolean>) => {
      const ok = await run().catch((err: Error) => {
        console.log(`SKIPPED ${what}: the server answered ${err.message}`);
        return null;
      });
      if (ok === false) console.log(`SKIPPED ${what}: the server does not do it yet`);
      return ok === true;
    };
    const { message: probed } = await probe.request("send", {
      room: ROOM,
      text: "probe for @Ada",
      nonce: "probe-mention-0001",
    });

    // ---- mentions: everyone sees them; the one mentioned sees them stand out.
    if (probed.mentions?.includes("ada")) {
      await say(ada, "hey @Bob, look (and @nobody)");
      const mention = message(bob, "hey").getByTestId("mention");
      await mention.waitFor();
      assert.equal(await mention.count(), 1, "@nobody is no mention");
      assert.match((await mention.getAttribute("class")) ?? "", /mention-me/);
      const seen = message(ada, "hey").getByTestId("mention");
      await seen.waitFor();
      assert.doesNotMatch((await seen.getAttribute("class")) ?? "", /mention-me/);
      assert.match((await message(ada, "probe for").getAttribute("class")) ?? "", /mentioned/);
    } else console.log("SKIPPED mentions: the server does not resolve them yet");

    // ---- reactions: Bob reacts on his phone, Ada sees it, adds hers; both survive.
    const seq = Number(await message(ada, "first of a run").getAttribute("data-seq"));
    const reacts = await can("reactions", async () => {
      const reply = await probe.request("react", { room: ROOM, seq, emoji: "👀" });
      return reply?.message?.kind === "react";
    });
    if (reacts) {
      await probe.request("react", { room: ROOM, seq, emoji: "👀", remove: true });
      const bobRun = message(bob, "first of a run");
      await bobRun.scrollIntoViewIfNeeded();
      await bobRun.getByTestId("message-react").click();
      await bob.getByTestId("emoji-search").fill("tada");
      await shot(bob, "phone-picker");
      a11y.push(...await severe(bob, "phone picker"));
      await bob.getByTestId("emoji-search").press("Enter");
      const adaRun = message(ada, "first of a run");
      const tada = adaRun.locator('[data-testid="reaction"][data-emoji="🎉"]');
      await tada.waitFor();
      assert.match((await tada.getAttribute("aria-label")) ?? "", /🎉 1: Bob/);
      assert.equal(await tada.getAttribute("aria-pressed"), "false");
      await tada.click();
      await adaRun.locator('[data-emoji="🎉"][aria-pressed="true"]').waitFor();
      assert.equal(await tada.locator(".reaction-count").innerText(), "2");
      await adaRun.hover();
      await adaRun.getByTestId("message-react").click();
      await ada.locator('[data-testid="emoji-option"][data-shortcode="+1"]').waitFor();
      a11y.push(...await severe(ada, "desktop picker"));
      await shot(ada, "desktop-picker");
      await ada.locator('[data-testid="emoji-option"][data-shortcode="+1"]').click();
      await adaRun.locator('[data-testid="reaction"][data-emoji="👍"]').waitFor();
      await message(bob, "first of a run").locator('[data-emoji="👍"]').waitFor();
      await adaRun.scrollIntoViewIfNeeded();
      await shot(ada, "desktop-reactions");
      a11y.push(...await severe(ada, "desktop reactions"));

      // A reload shows them from history.
      await ada.reload();
      await adaRun.locator('[data-emoji="🎉"][aria-pressed="true"]').waitFor();
      assert.equal(await tada.locator(".reaction-count").innerText(), "2");

      // Bob is cut off while Ada takes hers back; his reconnect replays it.
      cut = true;
      await (relay as WebSocketRoute | null)?.close({ code: 1012 });
      await bob.locator('[data-testid="status"]:not([data-state="connected"])').waitFor();
      await tada.click();
      await adaRun.locator('[data-emoji="🎉"][aria-pressed="false"]').waitFor();
      cut = false;
      await bob.locator('[data-testid="status"][data-state="connected"]').waitFor({
        timeout: 20_000,
      });
      const bobTada = message(bob, "first of a run").locator('[data-emoji="🎉"]');
      await bob.waitForFunction(
        (el) => el?.querySelector(".reaction-count")?.textContent === "1",
        await bobTada.elementHandle(),
      );
      assert.equal(await bobTada.getAttribute("aria-pressed"), "true");
      await shot(bob, "phone-reactions");
      a11y.push(...await severe(bob, "phone reactions"));
    } else {
      // Without the frame, history still carries reactions: the chips render from it.
      await server.app.hub.store.append({
        kind: "react",
        room: ROOM,
        author: probe.user,
        target: seq,
        emoji: "🎉",
      });
      await ada.reload();
      const chip = message(ada, "first of a run").locator('[data-testid="reaction"]');
      await chip.waitFor();
      assert.match((await chip.getAttribute("aria-label")) ?? "", /🎉 1: Probe/);
      assert.equal(await chip.getAttribute("aria-pressed"), "false");
      await chip.scrollIntoViewIfNeeded();
      await shot(ada, "desktop-reactions");
      a11y.push(...await severe(ada, "desktop reactions"));
    }

    // ---- replies: the quote jumps to the original, loading history when it is not held.
    const replied = await can("replies", async () => {
      const { message } = await probe.request("send", {
        room: ROOM,
        text: "replying to an old one",
        nonce: "probe-reply-0001",
        replyTo: 5,
      });
      return message.replyTo?.seq === 5;
    });
    if (replied) {
      await ada.reload();
      const reply = message(ada, "replying to an old one");
      await reply.waitFor();
      assert.equal(await ada.locator('[data-testid="message"][data-seq="5"]').count(), 0);
      await reply.getByTestId("reply-quote").click();
      const original = ada.locator('[data-testid="message"][data-seq="5"]');
      await original.waitFor();
      assert.match((await original.getAttribute("class")) ?? "", /highlighted/);
      assert.ok(await original.isVisible());
      assert.ok(
        await original.evaluate((el) => {
          const r = el.getBoundingClientRect();
          return r.top >= 0 && r.bottom <= innerHeight;
        }),
        "the original is scrolled into view",
      );
      await shot(ada, "desktop-reply-jump");

      // Its thread: "1 reply" opens the panel listing it.
      await original.getByTestId("thread-link").click();
      const panel = ada.getByTestId("thread-panel");
      await panel.getByTestId("message-text").filter({ hasText: "replying to an old one" })
        .waitFor();
      await panel.getByTestId("message-text").filter({ hasText: /^seed 5$/ }).waitFor();
      await shot(ada, "desktop-thread");
      a11y.push(...await severe(ada, "desktop thread"));
      await panel.getByTestId("thread-close").click();
      await panel.waitFor({ state: "detached" });

      // Bob replies from his phone by clicking Reply; Ada's quote jumps to the held original.
      const target = message(bob, "second of a run");
      await target.scrollIntoViewIfNeeded();
      await target.getByTestId("message-reply").click();
      await say(bob, "a reply from the phone");
      const fromPhone = message(ada, "a reply from the phone");
      await fromPhone.getByTestId("reply-quote").filter({ hasText: "second of a run" }).click();
      await ada.locator(".message.highlighted").filter({ hasText: "second of a run" }).waitFor();
    }

    // ---- an image: a preview sized before it loads, linking to the file.
    const png = await ada.evaluate(async () => {
      const canvas = document.createElement("canvas");
      canvas.width = 240;
      canvas.height = 160;
      const g = canvas.getContext("2d")!;
      g.fillStyle = "#4f46e5";
      g.fillRect(0, 0, 240, 160);
      g.fillStyle = "#ffd166";
      g.fillRect(40, 40, 160, 80);
      const blob = await new Promise<Blob>((done) => canvas.toBlob((b) => done(b!), "image/png"));
      return [...new Uint8Array(await blob.arrayBuffer())];
    });
    const { token } = await (await fetch(`${server.url}/api/token`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ username: "Probe", password: passwordFor("Probe") }),
    })).json();
    const uploaded = await fetch(`${server.url}/api/rooms/${ROOM}/files?name=dot.png`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, origin: server.url },
      body: new Uint8Array(png),
    }).catch(() => null);
    const file = uploaded?.ok ? (await uploaded.json()).file : null;
    if (!uploaded?.ok) await uploaded?.body?.cancel();
    if (
      file && await can("files", async () => {
        const { message } = await probe.request("send", {
          room: ROOM,
          text: "a picture",
          nonce: "probe-file-0001",
          file: file.id,
        });
        return message.file?.id === file.id;
      })
    ) {
      const pic = message(ada, "a picture").locator('[data-testid="file-image"] img');
      await pic.waitFor();
      assert.equal(await pic.getAttribute("width"), "240");
      assert.equal(await pic.getAttribute("height"), "160");
      assert.equal(await pic.getAttribute("alt"), "dot.png");
      assert.equal(await pic.getAttribute("loading"), "lazy");
      await pic.scrollIntoViewIfNeeded();
      await ada.waitForFunction(
        (img) => (img as HTMLImageElement).complete,
        await pic.elementHandle(),
      );
      assert.ok(await pic.evaluate((img) => (img as HTMLImageElement).naturalWidth === 240));
      await shot(ada, "desktop-image");
      a11y.push(...await severe(ada, "desktop image"));
    } else if (!file) console.log(`SKIPPED image: upload answered ${uploaded?.status}`);
    await probe.close();

    assert.deepEqual(adaWatch.problems, []);
    assert.deepEqual(bobWatch.problems, []);
  } finally {
    await browser.close();
    await server.close();
  }
  assert.deepEqual(a11y, [], "serious or critical axe violations");
});
