/** Debian's Chromium, driven by playwright-core, for the browser tests. */
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);

export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Where browser tests save their screenshots. */
export const OUTPUT = new URL("./output/browser/", import.meta.url);

/**
 * A browser test: skipped, saying why, when Chromium is missing. Playwright keeps
 * resources of its own open across the test, so Deno's sanitizers are off.
 */
export function browserTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: hasChromium
      ? name
      : `${name} (SKIPPED: ${CHROMIUM} is missing; apt-get install chromium)`,
    ignore: !hasChromium,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await Deno.mkdir(OUTPUT, { recursive: true });
      await fn();
    },
  });
}

/** Pick a display name on the page and wait until its socket is connected. */
export async function signInPage(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId("name-input").fill(name);
  await page.getByTestId("name-submit").click();
  await page.locator('[data-testid="status"][data-state="connected"]').waitFor();
}
