/** Baseline: one `send()` per delivery. See bench/baseline.ts. */
import { runBaselineCli } from "./baseline.ts";

if (import.meta.main) await runBaselineCli(Deno.args, false);
