/** Server-side render of the whole document: a static shell with islands for the live parts. */
import type { ComponentProps, ComponentType } from "preact";
import { renderToString } from "preact-render-to-string";
import { Island } from "./components/Island.tsx";
import type { PageProps, RenderPage } from "./contract.ts";
import { type IslandName, islands } from "./islands/mod.ts";
import { BASE_META, FEATURES_META, normalizeBase } from "./lib/config.ts";

export const renderPage: RenderPage = (props) =>
  "<!doctype html>" + renderToString(<Page {...props} />);

function Page({ title, branding, basePath, features, assets, rooms }: PageProps) {
  const base = normalizeBase(basePath);
  const logo = branding?.logo || undefined;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover" />
        <meta name="color-scheme" content="light dark" />
        <title>{title}</title>
        {/* Read by the bundle: every URL it builds goes under the base path. */}
        <meta name={BASE_META} content={base} />
        <meta name={FEATURES_META} content={JSON.stringify(features)} />
        {/* An empty icon, so the browser does not ask for /favicon.ico. */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={assets.css} />
        {/* The accent colour, as a stylesheet: the CSP allows no inline styles. */}
        {branding?.accent && <link rel="stylesheet" href={`${base}/branding.css`} />}
        <script type="module" src={assets.js} />
      </head>
      <body>
        <div class="app">
          <header class="topbar">
            {island("Header", logo ? { title, logo } : { title }, "topbar-main")}
            {island("Status", {}, "topbar-status")}
          </header>
          {island("RoomList", { rooms }, "sidebar")}
          <main class="chat">
            {island("Timeline", {}, "chat-timeline")}
            {island("TypingLine", {}, "chat-typing")}
            {island("Composer", {}, "chat-composer")}
          </main>
          {island("Members", {}, "members")}
        </div>
        {island("RoomSettings", {}, "settings-host")}
        {island("Thread", {}, "thread-host")}
        {island("UserCard", {}, "card-host")}
        {island("Dialogs", {}, "dialog-host")}
        {island("Notices", {}, "notices-host")}
        {/* Last, so it covers the app until the server says who is signed in. */}
        {island("AuthGate", logo ? { title, logo } : { title }, "gate-host")}
        <noscript>
          <p class="noscript">{title} needs JavaScript to connect to the chat.</p>
        </noscript>
      </body>
    </html>
  );
}

/** Render island `name`; the name ties the props to the right component at compile time. */
function island<K extends IslandName>(
  name: K,
  props: ComponentProps<(typeof islands)[K]>,
  cls: string,
) {
  const component = islands[name] as ComponentType<object>;
  return <Island name={name} component={component} props={props as object} class={cls} />;
}
