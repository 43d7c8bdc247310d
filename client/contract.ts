/**
 * What the server composition root (server.ts) needs from the client package.
 * server/ never imports client/; server.ts passes `renderPage` into the HTTP layer.
 */
import type { RoomInfo } from "../protocol/messages.ts";

export interface PageProps {
  /** Window title and header text (branding). */
  title: string;
  /** URLs of the hashed client assets. */
  assets: { js: string; css: string };
  /** Rooms known at render time, so the first paint already lists them. */
  rooms: RoomInfo[];
}

/** Server-side render of the whole HTML document; islands hydrate from the client bundle. */
export type RenderPage = (props: PageProps) => string;
