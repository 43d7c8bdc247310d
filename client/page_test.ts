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

Deno.test("renderPage renders a CSP-friendly document with hydratable islands", () => {
  const html = renderPage({
    title: "Parley",
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
