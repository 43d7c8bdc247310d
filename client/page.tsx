/** Server-side render of the whole document: a static shell with islands for the live parts. */
import type { ComponentProps, ComponentType } from "preact";
import { renderToString } from "preact-render-to-string";
import { Island } from "./components/Island.tsx";
import type { PageProps, RenderPage } from "./contract.ts";
import { type IslandName, islands } from "./islands/mod.ts";

export const renderPage: RenderPage = (props) =>
  "<!doctype html>" + renderToString(<Page {...props} />);

function Page({ title, assets, rooms }: PageProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover" />
        <meta name="color-scheme" content="light dark" />
        <title>{title}</title>
        {/* An empty icon, so the browser does not ask for /favicon.ico. */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={assets.css} />
        <script type="module" src={assets.js} />
      </head>
      <body>
        <div class="app">
          <header class="topbar">
            {island("Header", { title }, "topbar-main")}
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
        {island("UserCard", {}, "card-host")}
        {island("Notices", {}, "notices-host")}
        {/* Last, so it covers the app until the server says who is signed in. */}
        {island("AuthGate", { title }, "gate-host")}
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
