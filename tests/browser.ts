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

/** The same password the protocol helpers use, so a name is one account in both. */
export function passwordFor(name: string): string {
  return `${name}-correct-horse-battery`;
}

/**
 * Open `url` and sign in as `name` through the sign-in page: create the account, or
 * sign in to it when the username is taken. Waits until the socket is connected; a
 * context already signed in just connects.
 */
export async function signInPage(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  const connected = page.locator('[data-testid="status"][data-state="connected"]');
  const gate = page.locator('[data-testid="auth-gate"][data-state="open"]');
  await connected.or(gate).first().waitFor();
  if (await connected.isVisible()) return;
  await submitAuth(page, "register", name);
  const error = page.getByTestId("auth-error");
  await connected.or(error).first().waitFor();
  if (await connected.isVisible()) return;
  if ((await error.getAttribute("data-code")) !== "username_taken") {
    throw new Error(`registering ${name} failed: ${await error.innerText()}`);
  }
  await submitAuth(page, "signin", name);
  await connected.or(error).first().waitFor();
  if (!(await connected.isVisible())) {
    throw new Error(`signing in as ${name} failed: ${await error.innerText()}`);
  }
}

/** Fill and send the sign-in page's form in one of its modes. */
export async function submitAuth(
  page: Page,
  mode: "signin" | "register",
  name: string,
  password = passwordFor(name),
): Promise<void> {
  await page.getByTestId(`auth-mode-${mode}`).click();
  await page.getByTestId("auth-username").fill(name);
  await page.getByTestId("auth-password").fill(password);
  await page.getByTestId("auth-submit").click();
}

/** Type `text` in the composer and send it. */
export async function say(page: Page, text: string): Promise<void> {
  const composer = page.getByTestId("composer");
  await composer.fill(text);
  await composer.press("Enter");
}

/** A room's entry in the room list. */
export function roomItem(page: Page, room: string) {
  return page.locator(`[data-testid="room-item"][data-room="${room}"]`);
}

/** Open a room from the room list; on a phone the list is a drawer behind a toggle. */
export async function openRoom(page: Page, name: string): Promise<void> {
  await showRooms(page);
  await roomItem(page, name).click();
}

/** On a phone the room list is a drawer behind a toggle: open it when it is closed. */
export async function showRooms(page: Page): Promise<void> {
  const toggle = page.getByTestId("rooms-toggle");
  if (await toggle.isVisible() && (await toggle.getAttribute("aria-expanded")) !== "true") {
    await toggle.click();
  }
}

/** What the "New room" dialog can be given besides the name. */
export interface NewRoomOptions {
  kind?: "public" | "private" | "announcement";
  title?: string;
  topic?: string;
  /** Tick "Show read receipts" (the box is there only when the server has receipts on). */
  receipts?: boolean;
}

/**
 * Create a room the way a user does: the sidebar's "+" (on a phone, in the drawer), then
 * the dialog's fields and "Create". Waits until the dialog has closed and the new room is
 * the open one; a refusal shown in the dialog fails with its text.
 */
export async function createRoomInUi(
  page: Page,
  name: string,
  options: NewRoomOptions = {},
): Promise<void> {
  await showRooms(page);
  await page.getByTestId("new-room").click();
  const dialog = page.getByTestId("new-room-dialog");
  await dialog.waitFor();
  await dialog.getByTestId("room-input").fill(name);
  if (options.kind) await dialog.getByTestId("room-kind").selectOption(options.kind);
  if (options.title) await dialog.getByTestId("room-title-input").fill(options.title);
  if (options.topic) await dialog.getByTestId("room-topic-input").fill(options.topic);
  if (options.receipts) await dialog.getByTestId("room-receipts").check();
  await dialog.getByTestId("room-create").click();
  const refused = dialog.locator('[data-testid="new-room-error"][role="alert"]');
  await dialog.waitFor({ state: "detached" }).then(
    () => undefined,
    async (e) => {
      if (await refused.isVisible()) {
        throw new Error(`creating room ${name} failed: ${await refused.innerText()}`);
      }
      throw e;
    },
  );
  // The new room is the one open now (its list entry is hidden in a closed drawer).
  await roomItem(page, name).and(page.locator('[aria-current="page"]')).waitFor({
    state: "attached",
  });
}
