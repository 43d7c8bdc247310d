/** Baseline: everything one socket is due in one task goes out as one frame. See bench/baseline.ts. */
import { runBaselineCli } from "./baseline.ts";

if (import.meta.main) await runBaselineCli(Deno.args, true);
