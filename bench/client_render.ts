/**
 * The web client's own cost, in Chromium: a page load straight into a room with 50 messages
 * (from navigation to all 50 on screen: bundle, hydration, socket, join and render), the
 * first render of those 50 (from the join reply's arrival to all 50 on screen: the render
 * alone, on a cold page), and the client bundle's gzipped size; medians of several runs.
 * Reports figures; asserts nothing.
 *
 *   deno task bench --client-render [--runs 7]
 *   deno run -A bench/client_render.ts [--runs 7]
 */
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { bundleClient } from "../server/assets.ts";
import { hasChromium, launchChromium, signInPage } from "../tests/browser.ts";
import { startServer, TestClient } from "../tests/helpers.ts";

const MESSAGES = 50;
/** Rich and plain text alike, as a room holds them. */
const TEXTS = [
  "plain words, nothing more",
  "**bold** and _italic_ with `code` and a link https://example.com/docs",
  "> a quote\n\n- one\n- two",
  "ship it :rocket: :tada:",
  "```\nconst x = 1;\n```",
];

export interface ClientRenderResult {
  bundleBytes: number;
  bundleGzipBytes: number;
  /** Median ms from navigation to the room's 50 messages rendered; null without Chromium. */
  pageLoadMs: number | null;
  runsMs: number[];
  /** Median ms from the join reply's arrival to its 50 messages rendered, on a fresh page. */
  firstRenderMs: number | null;
  firstMs: number[];
  /** Median ms to show the room again from another one, its 50 messages held: render alone. */
  switchRenderMs: number | null;
  switchMs: number[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function clientRender(runs = 7): Promise<ClientRenderResult> {
  const root = new URL("../", import.meta.url);
  const assets = await bundleClient(
    new URL("client/main.tsx", root),
    new URL("client/styles.css", root),
  );
  const js = new TextEncoder().encode(assets.js);
  const result: ClientRenderResult = {
    bundleBytes: js.length,
    bundleGzipBytes: gzipSync(js, { level: 9 }).length,
    pageLoadMs: null,
    runsMs: [],
    firstRenderMs: null,
    firstMs: [],
    switchRenderMs: null,
    switchMs: [],
  };
  if (!hasChromium) return result;

  const server = await startServer();
  const browser = await launchChromium();
  try {
    const seeder = await TestClient.connect(server, "Seeder");
    await seeder.request("room.create", { room: "bench" });
    for (let i = 1; i <= MESSAGES; i++) {
      await server.app.hub.store.append({
        kind: "text",
        room: "bench",
        author: seeder.user,
        text: `${TEXTS[i % TEXTS.length]} #${i}`,
        nonce: `bench-${i.toString().padStart(4, "0")}`,
      });
    }
    await seeder.close();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // When the reply carrying the room's messages arrives: where rendering starts.
    await context.addInitScript(() => {
      const Native = WebSocket;
      globalThis.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          this.addEventListener("message", (e) => {
            const g = globalThis as { joinedAt?: number };
            if (g.joinedAt === undefined && String(e.data).includes('"hasMore"')) {
              g.joinedAt = performance.now();
            }
          });
        }
      };
    });
    const page = await context.newPage();
    await signInPage(page, server.url, "Reader");
    for (let run = 0; run < runs; run++) {
      // A fresh page load into the room: bundle, hydration, socket, join and render. The
      // time is performance.now() (since navigation) when the room's newest message is in.
      await page.goto("about:blank");
      await page.goto(`${server.url}/#bench`);
      const handle = await page.waitForFunction(
        (last) => {
          const texts = document.querySelectorAll('[data-testid="message-text"]');
          const found = [...texts].some((t) => t.textContent?.endsWith(`#${last}`));
          return found && texts.length >= last ? performance.now() : false;
        },
        MESSAGES,
        { polling: "raf" },
      );
      const done = await handle.jsonValue() as number;
      result.runsMs.push(done);
      const joinedAt = await page.evaluate(() => (globalThis as { joinedAt?: number }).joinedAt);
      if (joinedAt !== undefined) result.firstMs.push(done - joinedAt);
    }
    // Render alone: switching back to the room, its messages held, until they are painted.
    for (let run = 0; run < runs; run++) {
      await page.evaluate(() => location.hash = "#general");
      await page.waitForFunction(() => !document.querySelector('[data-testid="message-text"]'));
      const ms = await page.evaluate(async (last) => {
        const start = performance.now();
        location.hash = "#bench";
        await new Promise<void>((done) => {
          const check = () => {
            const texts = document.querySelectorAll('[data-testid="message-text"]');
            if (texts.length >= last) requestAnimationFrame(() => done());
            else requestAnimationFrame(check);
          };
          check();
        });
        return performance.now() - start;
      }, MESSAGES);
      result.switchMs.push(ms);
    }
    result.switchRenderMs = median(result.switchMs);
    result.pageLoadMs = median(result.runsMs);
    if (result.firstMs.length) result.firstRenderMs = median(result.firstMs);
  } finally {
    await browser.close();
    await server.close();
  }
  return result;
}

export async function main(args: string[] = Deno.args): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { runs: { type: "string", default: "7" }, "client-render": { type: "boolean" } },
    strict: false,
  });
  const runs = Math.max(1, Number(values.runs) || 7);
  const r = await clientRender(runs);
  console.log(
    `client bundle: ${(r.bundleBytes / 1024).toFixed(1)} KiB, ` +
      `${(r.bundleGzipBytes / 1024).toFixed(1)} KiB gzipped`,
  );
  if (r.pageLoadMs === null) {
    console.log("first render: SKIPPED, /usr/bin/chromium is missing (apt-get install chromium)");
  } else {
    console.log(
      `page load into a room with ${MESSAGES} messages: ${r.pageLoadMs.toFixed(1)} ms ` +
        `(median of ${r.runsMs.length}: ${r.runsMs.map((ms) => ms.toFixed(1)).join(", ")})`,
    );
    console.log(
      `first render of its ${MESSAGES} messages, join reply to painted: ` +
        `${r.firstRenderMs?.toFixed(1)} ms ` +
        `(median of ${r.firstMs.length}: ${r.firstMs.map((ms) => ms.toFixed(1)).join(", ")})`,
    );
    console.log(
      `the room shown again, its ${MESSAGES} messages held (render alone): ` +
        `${r.switchRenderMs?.toFixed(1)} ms (median of ${r.switchMs.length})`,
    );
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
