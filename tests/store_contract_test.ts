import { MemoryStore } from "../server/store/memory.ts";
import { storeContract } from "./store_contract.ts";

storeContract("memory", () => Promise.resolve({ store: new MemoryStore() }));
