/**
 * Client assets (the island bundle and the stylesheet), served under content-hashed
 * paths. The single-file build embeds them; otherwise they are built on demand with
 * `deno bundle`, so a fresh clone starts with one command and no build step.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export interface AssetSource {
  js: string;
  css: string;
}

export interface Asset {
  /** URL path, with the content hash in the name. */
  path: string;
  contentType: string;
  body: Uint8Array;
  etag: string;
}

export interface ClientAssets {
  js: Asset;
  css: Asset;
}

let embedded: AssetSource | null = null;

/** Called first thing by the single-file build, before the server starts. */
export function embedAssets(source: AssetSource): void {
  embedded = source;
}

export function embeddedAssets(): AssetSource | null {
  return embedded;
}

export async function makeAssets(source: AssetSource): Promise<ClientAssets> {
  return {
    js: await asset("app", "js", "text/javascript; charset=utf-8", source.js),
    css: await asset("app", "css", "text/css; charset=utf-8", source.css),
  };
}

const builds = new Map<string, Promise<AssetSource>>();

/** Bundle the client entry for browsers; memoized per process. */
export function bundleClient(entry: URL, stylesheet: URL): Promise<AssetSource> {
  const key = entry.href;
  let build = builds.get(key);
  if (!build) {
    build = runBundle(entry, stylesheet);
    builds.set(key, build);
    build.catch(() => builds.delete(key));
  }
  return build;
}

async function runBundle(entry: URL, stylesheet: URL): Promise<AssetSource> {
  const entryPath = fileURLToPath(entry);
  const root = dirname(dirname(entryPath));
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "--minify", entryPath],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno bundle ${entryPath} failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  return {
    js: new TextDecoder().decode(output.stdout),
    css: await Deno.readTextFile(stylesheet),
  };
}

async function asset(name: string, ext: string, contentType: string, text: string): Promise<Asset> {
  const body = new TextEncoder().encode(text);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const hash = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return { path: `/assets/${name}.${hash}.${ext}`, contentType, body, etag: `"${hash}"` };
}
