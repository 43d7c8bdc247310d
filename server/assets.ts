/**
 * Client assets (the island bundle and the stylesheet), served under content-hashed
 * paths. The single-file build embeds them; otherwise they are built on demand with
 * `deno bundle`, so a fresh clone starts with one command and no build step. A build is
 * kept in dist/client/, keyed by a hash of the client's sources, so the next start with
 * the same sources reads it instead of bundling again (about half a second).
 */
import { dirname, join } from "node:path";
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

/** The directories a client build reads, beside deno.json and deno.lock (its imports). */
const CLIENT_SOURCES = ["client", "protocol"];

/**
 * What a client build depends on: every file under client/ and protocol/, deno.json,
 * deno.lock and the Deno version (its bundler), hashed; null when one cannot be read.
 */
export async function clientSourceKey(root: string): Promise<string | null> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) files.push(path);
    }
  };
  try {
    for (const dir of CLIENT_SOURCES) await walk(join(root, dir));
    files.sort();
    files.push(join(root, "deno.json"), join(root, "deno.lock"));
    const encoder = new TextEncoder();
    const parts: Uint8Array[] = [encoder.encode(`deno ${Deno.version.deno}\0`)];
    for (const file of files) {
      const body = await Deno.readFile(file).catch((error) => {
        if (error instanceof Deno.errors.NotFound && file.endsWith("deno.lock")) {
          return new Uint8Array();
        }
        throw error;
      });
      parts.push(encoder.encode(`${file.slice(root.length)}\0${body.length}\0`), body);
    }
    const all = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.length;
    }
    return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", all)), 16);
  } catch {
    return null;
  }
}

async function runBundle(entry: URL, stylesheet: URL): Promise<AssetSource> {
  const entryPath = fileURLToPath(entry);
  const root = dirname(dirname(entryPath));
  const key = await clientSourceKey(root);
  const cached = key === null ? null : join(root, "dist", "client", `${key}.json`);
  if (cached) {
    try {
      const source = JSON.parse(await Deno.readTextFile(cached)) as AssetSource;
      if (typeof source.js === "string" && typeof source.css === "string") return source;
    } catch {
      // not built yet, or unreadable: bundle
    }
  }
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "--minify", entryPath],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno bundle ${entryPath} failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  const source = {
    js: new TextDecoder().decode(output.stdout),
    css: await Deno.readTextFile(stylesheet),
  };
  if (cached) await keep(cached, JSON.stringify(source));
  return source;
}

/** Write `text` to `path` whole (a temp file renamed), or not at all: a cache is optional. */
async function keep(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  try {
    await Deno.mkdir(dir, { recursive: true });
    const temp = await Deno.makeTempFile({ dir, prefix: ".build-" });
    try {
      await Deno.writeTextFile(temp, text);
      await Deno.rename(temp, path);
      // Builds of older sources are of no further use.
      for await (const entry of Deno.readDir(dir)) {
        const other = join(dir, entry.name);
        if (other !== path && entry.name.endsWith(".json")) {
          await Deno.remove(other).catch(() => {});
        }
      }
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  } catch {
    // A read-only checkout bundles on every start, as before.
  }
}

function hex(bytes: Uint8Array, length = bytes.length): string {
  return Array.from(bytes.slice(0, length), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function asset(name: string, ext: string, contentType: string, text: string): Promise<Asset> {
  const body = new TextEncoder().encode(text);
  const hash = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", body)), 8);
  return { path: `/assets/${name}.${hash}.${ext}`, contentType, body, etag: `"${hash}"` };
}
