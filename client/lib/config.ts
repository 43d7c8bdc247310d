/**
 * What the page tells the bundle about where it runs: the base path Parley is mounted
 * under ("" at the root, "/chat" inside an application) and the features the server
 * has switched on. page.tsx writes both into <meta> tags; `hello` may update the features.
 */
import type { Features } from "../../protocol/messages.ts";

export const BASE_META = "parley-base";
export const FEATURES_META = "parley-features";

export const ALL_FEATURES: Features = {
  directMessages: true,
  receipts: true,
  edits: true,
  guests: true,
};

/** A base path as the server gives it: "" or "/chat" (leading slash, no trailing one). */
export function normalizeBase(base: string | null | undefined): string {
  const trimmed = (base ?? "").trim().replace(/\/+$/, "");
  if (trimmed === "") return "";
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

let base: string | null = null;

/** The base path from the page; "" outside a browser or when the page names none. */
export function basePath(): string {
  if (base === null) base = normalizeBase(readMeta(BASE_META));
  return base;
}

/** `path` ("/api/me", "/ws") under the base path. */
export function withBase(path: string): string {
  return basePath() + path;
}

/** The WebSocket URL for the page at `loc`, under the base path. */
export function socketUrl(loc: { protocol: string; host: string }, prefix = basePath()): string {
  const scheme = loc.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${loc.host}${prefix}/ws`;
}

/**
 * Features from the page's meta tag; every switch missing or unreadable counts as on,
 * as it does on a server that predates the switches.
 */
export function pageFeatures(): Features {
  return parseFeatures(readMeta(FEATURES_META));
}

export function parseFeatures(json: string | null): Features {
  if (!json) return { ...ALL_FEATURES };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ...ALL_FEATURES };
  }
  return mergeFeatures(value);
}

/** Only booleans override the defaults; anything else the server sent is ignored. */
export function mergeFeatures(value: unknown): Features {
  const features = { ...ALL_FEATURES };
  if (typeof value !== "object" || value === null) return features;
  for (const key of Object.keys(features) as (keyof Features)[]) {
    const given = (value as Record<string, unknown>)[key];
    if (typeof given === "boolean") features[key] = given;
  }
  return features;
}

function readMeta(name: string): string | null {
  if (typeof document === "undefined") return null;
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? null;
}
