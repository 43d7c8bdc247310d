/**
 * A dead link in a real Chromium. Playwright's `context.setOffline` (and CDP's offline
 * emulation, which it uses) leaves an open WebSocket untouched, so the page reaches the
 * server through a TCP proxy on 127.0.0.1 that the test stalls: bytes stop flowing both
 * ways and new connections hang, with no close and no `offline` event, as when a phone
 * loses its network. Only the heartbeat can notice that.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { browserTest, launchChromium, OUTPUT, say, signInPage } from "./browser.ts";
import { startServer, TestClient } from "./helpers.ts";

/** What the README promises: a dead link is noticed within 20 s. */
const DEAD_PEER_BOUND_MS = 20_000;
/** Timers fire a little late and Playwright polls: what the test allows past the bound. */
const SLACK_MS = 1_500;

const messageTexts = (page: Page) => page.getByTestId("message-text").allInnerTexts();

browserTest(
  "browser: a dead link shows reconnecting within 20 s and recovers losing nothing",
  async () => {
    const server = await startServer();
    const proxy = stallingProxy(server.port);
    const browser = await launchChromium();
    let bob: TestClient | null = null;
    try {
      const ada = await (await browser.newContext()).newPage();
      const errors: string[] = [];
      ada.on("pageerror", (e) => errors.push(e.message));
      await signInPage(ada, proxy.url, "Ada");
      bob = await TestClient.connect(server, "Bob");
      await bob.request("room.join", { room: "general" });
      await say(ada, "before the outage");
      await ada.getByTestId("message-text").filter({ hasText: "before the outage" }).waitFor();

      const status = ada.getByTestId("status");
      const stalledAt = Date.now();
      proxy.stall();
      const bound = DEAD_PEER_BOUND_MS + SLACK_MS;
      await status.filter({ hasText: "reconnecting" }).waitFor({ timeout: bound });
      const noticedAfter = Date.now() - stalledAt;
      assert.ok(noticedAfter <= bound, `noticed after ${noticedAfter} ms`);
      console.log(`dead link noticed after ${noticedAfter} ms`);
      await ada.screenshot({ path: new URL("heartbeat-reconnecting.png", OUTPUT).pathname });

      // Both sides go on while the link is dead: Ada writes, Bob's message reaches the server.
      await say(ada, "written while the link was dead");
      await ada.getByTestId("pending").waitFor();
      await bob.request("send", {
        room: "general",
        text: "sent while Ada was away",
        nonce: "bob-nonce-0001",
      });
      // Until the link is back it keeps saying so, through retries that hang or fail.
      await sleep(3_000);
      assert.match(await status.innerText(), /reconnecting/);

      proxy.resume();
      await ada.locator('[data-testid="status"][data-state="connected"]').waitFor({
        timeout: 30_000,
      });
      await ada.getByTestId("message-text").filter({ hasText: "sent while Ada was away" })
        .waitFor();
      await ada.getByTestId("pending").waitFor({ state: "detached", timeout: 10_000 });
      const expected = [
        "before the outage",
        "sent while Ada was away",
        "written while the link was dead",
      ];
      await ada.getByTestId("message-text").filter({ hasText: expected[2] }).waitFor();
      assert.deepEqual(
        (await messageTexts(ada)).filter((t) => expected.includes(t)),
        expected,
        "each message once, in order",
      );
      const { messages } = await bob.request("history", { room: "general" });
      assert.deepEqual(
        messages.filter((m) => m.kind === "text" && expected.includes(m.text)).map((m) => m.text),
        expected,
        "the server holds each once",
      );
      assert.deepEqual(errors, []);
    } finally {
      await bob?.close();
      await browser.close();
      proxy.close();
      await server.close();
    }
  },
);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A TCP proxy to `port` on 127.0.0.1 that can stall: while stalled, no byte moves in
 * either direction and new connections are held, unanswered; resuming lets it all flow.
 */
function stallingProxy(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let flowing = Promise.withResolvers<void>();
  flowing.resolve();
  let stalled = false;
  const open = async () => {
    while (stalled) await flowing.promise;
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        await open();
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // One side went away; close both.
    } finally {
      for (const conn of [from, to]) {
        if (conns.delete(conn)) conn.close();
      }
    }
  };
  (async () => {
    for await (const client of listener) {
      conns.add(client);
      (async () => {
        await open();
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.add(upstream);
        pump(client, upstream);
        pump(upstream, client);
      })().catch(() => {
        if (conns.delete(client)) client.close();
      });
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    stall() {
      if (stalled) return;
      stalled = true;
      flowing = Promise.withResolvers<void>();
    },
    resume() {
      stalled = false;
      flowing.resolve();
    },
    close() {
      this.resume();
      listener.close();
      for (const conn of conns) conn.close();
      conns.clear();
    },
  };
}
