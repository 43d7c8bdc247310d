/**
 * A page load that goes as it should logs nothing alarming: signed out is an answer, not
 * a failure, so the browser console stays free of errors.
 */
import assert from "node:assert/strict";
import type { ConsoleMessage, Page } from "playwright-core";
import { browserTest, launchChromium, signInPage } from "./browser.ts";
import { startServer } from "./helpers.ts";

/** Collect the page's console errors and uncaught exceptions. */
function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") errors.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

browserTest("browser: a signed-out page load logs no console errors", async () => {
  const server = await startServer();
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext()).newPage();
    const errors = consoleErrors(page);
    await page.goto(server.url);
    await page.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
    await page.waitForLoadState("networkidle");
    assert.deepEqual(errors, [], "a fresh visitor's page load");

    // Signed out, "who am I" answers plainly: nobody, and how to get in.
    const me = await fetch(`${server.url}/api/me`);
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), { user: null, registration: "open", guests: false });
    // A token that is no good is still refused.
    const forged = await fetch(`${server.url}/api/me`, { headers: { authorization: "Bearer x" } });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();

    // Signed in, reloaded, and signed out again: still nothing in the console.
    await signInPage(page, server.url, "Ada");
    await page.reload();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor();
    await page.getByTestId("profile-button").click();
    await page.getByTestId("logout").click();
    await page.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
    await page.reload();
    await page.locator('[data-testid="auth-gate"][data-state="open"]').waitFor();
    await page.waitForLoadState("networkidle");
    assert.deepEqual(errors, [], "signing in, reloading and signing out");
  } finally {
    await browser.close();
    await server.close();
  }
});
