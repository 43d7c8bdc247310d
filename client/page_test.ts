import { ok } from "node:assert/strict";
import type { RoomInfo } from "../protocol/messages.ts";
import { renderPage } from "./page.tsx";

const room = (name: string, kind: RoomInfo["kind"], topic = ""): RoomInfo => ({
  name,
  kind,
  title: "",
  topic,
  createdAt: 0,
  createdBy: "u1",
  lastSeq: 0,
  online: 1,
  receipts: false,
});

const FEATURES = { directMessages: true, receipts: true, edits: true, guests: false };

Deno.test("renderPage renders a CSP-friendly document with hydratable islands", () => {
  const html = renderPage({
    title: "Parley",
    branding: { title: "Parley" },
    basePath: "",
    features: FEATURES,
    assets: { js: "/assets/app.js", css: "/assets/app.css" },
    rooms: [room("general", "public", '"quoted" <b>'), room("secret", "private")],
  });
  ok(html.startsWith("<!doctype html>"));
  ok(html.includes('<script type="module" src="/assets/app.js"></script>'));
  ok(html.includes('<link rel="stylesheet" href="/assets/app.css"/>'));
  ok(!/style=|<style|<script>/.test(html), "no inline styles or scripts");
  for (
    const name of ["Header", "Status", "RoomList", "Timeline", "Composer", "Members", "AuthGate"]
  ) {
    ok(html.includes(`data-island="${name}"`), name);
  }
  ok(html.includes('data-room="general"'));
  ok(!html.includes('data-room="secret"'), "only public rooms before sign-in");
  ok(!html.includes("<b>"), "topic is escaped");
  // The sign-in cover is there from the first paint, so the shell never shows signed out.
  ok(html.includes('data-testid="auth-gate" data-state="checking"'));
});

Deno.test("renderPage: base path, features and branding go into the page", () => {
  const html = renderPage({
    title: "Acme <Chat>",
    branding: { title: "Acme <Chat>", accent: "#e11d48", logo: "/chat/logo.svg" },
    basePath: "/chat",
    features: { directMessages: false, receipts: false, edits: true, guests: false },
    assets: { js: "/chat/assets/app.js", css: "/chat/assets/app.css" },
    rooms: [],
  });
  ok(html.includes('<meta name="parley-base" content="/chat"/>'));
  ok(html.includes('name="parley-features"'));
  ok(html.includes("&quot;directMessages&quot;:false"), "features are escaped JSON");
  // The accent arrives as a stylesheet after the main one: no inline styles under the CSP.
  const main = html.indexOf('href="/chat/assets/app.css"');
  const brand = html.indexOf('<link rel="stylesheet" href="/chat/branding.css"/>');
  ok(main > 0 && brand > main, "branding.css follows the main stylesheet");
  ok(!/style=|<style/.test(html));
  ok(html.includes('src="/chat/logo.svg" alt="Acme &lt;Chat> logo"'), "logo with alt text");
  ok(html.includes("<title>Acme &lt;Chat></title>"));
});

Deno.test("renderPage: no branding.css without an accent, an empty base at the root", () => {
  const html = renderPage({
    title: "Parley",
    branding: { title: "Parley" },
    basePath: "",
    features: FEATURES,
    assets: { js: "/assets/app.js", css: "/assets/app.css" },
    rooms: [],
  });
  ok(!html.includes("branding.css"));
  ok(!html.includes("brand-logo"));
  ok(/<meta name="parley-base" content(="")?\/>/.test(html), "an empty base path");
});
