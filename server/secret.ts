/** The per-server signing secret: generated on first start and kept in the data directory. */
import { join } from "node:path";

export const MEMORY_DATA = ":memory:";

export async function loadOrCreateSecret(dataDir: string): Promise<Uint8Array> {
  if (dataDir === MEMORY_DATA) return crypto.getRandomValues(new Uint8Array(32));
  const path = join(dataDir, "secret.key");
  try {
    const hex = (await Deno.readTextFile(path)).trim();
    if (/^[0-9a-f]{64}$/.test(hex)) {
      return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
    }
    throw new Error(`${path} is not a 32-byte hex secret; remove it to generate a new one`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const hex = Array.from(secret, (b) => b.toString(16).padStart(2, "0")).join("");
  // Write aside, then link into place: a worker starting at the same moment either wins
  // the link or reads the complete file the other one linked.
  const draft = `${path}.${crypto.randomUUID()}`;
  await Deno.writeTextFile(draft, hex + "\n", { mode: 0o600 });
  try {
    await Deno.link(draft, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    return await loadOrCreateSecret(dataDir);
  } finally {
    await Deno.remove(draft);
  }
  return secret;
}
