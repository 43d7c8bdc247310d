import { ok } from "node:assert/strict";
import { renderPage } from "./page.tsx";

Deno.test("renderPage renders a CSP-friendly document with hydratable islands", () => {
  const html = renderPage({
    title: "Parley",
    assets: { js: "/assets/app.js", css: "/assets/app.css" },
    rooms: [{
      name: "general",
      topic: '"quoted" <b>',
      createdAt: 0,
      createdBy: "u1",
      lastSeq: 0,
      online: 1,
      receipts: false,
    }],
  });
  ok(html.startsWith("<!doctype html>"));
  ok(html.includes('<script type="module" src="/assets/app.js"></script>'));
  ok(html.includes('<link rel="stylesheet" href="/assets/app.css"/>'));
  ok(!/style=|<style|<script>/.test(html), "no inline styles or scripts");
  for (const name of ["Header", "Status", "RoomList", "Timeline", "Composer", "Members"]) {
    ok(html.includes(`data-island="${name}"`), name);
  }
  ok(html.includes('data-room="general"'));
  ok(!html.includes("<b>"), "topic is escaped");
});
