/**
 * What the server composition root needs from the client package.
 * server/ never imports client/; the composition root passes `renderPage` into the HTTP layer.
 */
import type { PageProps } from "../protocol/page.ts";

export type { PageProps };

/** Server-side render of the whole HTML document; islands hydrate from the client bundle. */
export type RenderPage = (props: PageProps) => string;
