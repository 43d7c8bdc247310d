/** What the server hands the client's page renderer: branding, switches and the first paint. */
import type { Features, RoomInfo } from "./messages.ts";

export interface Branding {
  /** Window title and header text. */
  title: string;
  /** A CSS colour for buttons, links and highlights. */
  accent?: string;
  /** URL (same origin, or a data: URL) of a logo shown in the header. */
  logo?: string;
}

export interface PageProps {
  /** Window title and header text (also `branding.title`). */
  title: string;
  branding: Branding;
  /** Where Parley is mounted ("" at the root, "/chat" inside an application). */
  basePath: string;
  /** What this server has switched on. */
  features: Features;
  /** URLs of the hashed client assets, with the base path. */
  assets: { js: string; css: string };
  /** Rooms known at render time, so the first paint already lists them. */
  rooms: RoomInfo[];
}
