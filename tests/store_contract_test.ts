import { KvStore } from "../server/store/kv.ts";
import { MemoryStore } from "../server/store/memory.ts";
import { storeContract } from "./store_contract.ts";

storeContract("memory", (options) => Promise.resolve({ store: new MemoryStore(options) }));

storeContract("kv", async (options) => {
  const dir = await Deno.makeTempDir({ prefix: "parley-kv-" });
  const path = `${dir}/parley.kv`;
  return {
    store: await KvStore.open(path, options),
    openShared: () => KvStore.open(path, options),
    reopen: () => KvStore.open(path, options),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
});
