/**
 * How many runs a property-based test makes. Inside `deno task test` each property makes a
 * small, fixed number of runs (`quick`), so the whole suite stays fast; `deno task fuzz`
 * passes `--fuzz` and each property makes its `deep` count, every one bounded in time.
 *
 * Flags after `--` (or the FUZZ_* environment variables):
 *   --fuzz           deep run counts (FUZZ=1)
 *   --runs <n>       this many runs for every property (FUZZ_RUNS)
 *   --seconds <s>    stop a property after this long and count what ran (FUZZ_SECONDS;
 *                    60 with --fuzz, 20 otherwise)
 *   --seed <n>       replay a seed that a failure printed (FUZZ_SEED)
 */
import fc from "fast-check";

function flag(name: string): string | undefined {
  const at = Deno.args.lastIndexOf(`--${name}`);
  if (at >= 0) return Deno.args[at + 1] ?? "";
  const inline = Deno.args.findLast((a) => a.startsWith(`--${name}=`));
  if (inline) return inline.slice(name.length + 3);
  return Deno.env.get(`FUZZ_${name.toUpperCase()}`);
}

function numberFlag(name: string): number | undefined {
  const value = flag(name);
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} wants a positive number`);
  return n;
}

/** Whether this is a fuzz run (`deno task fuzz`), not the quick pass of `deno task test`. */
export const DEEP = Deno.args.includes("--fuzz") || ["1", "true"].includes(flag("fuzz") ?? "");
const RUNS = numberFlag("runs");
const SECONDS = numberFlag("seconds") ?? (DEEP ? 60 : 20);
const SEED = numberFlag("seed");

/** Runs a property made, and how long it took: printed, so a fuzz run reports its counts. */
export interface PropertyReport {
  name: string;
  runs: number;
  ms: number;
  interrupted: boolean;
}

export const reports: PropertyReport[] = [];

/**
 * Check `property` with `quick` runs (or `deep` under `--fuzz`), bounded by `--seconds`.
 * A failure throws fast-check's report: the counterexample, shrunk, and its seed.
 */
export async function check<Ts>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  counts: { quick: number; deep: number },
): Promise<PropertyReport> {
  const numRuns = RUNS ?? (DEEP ? counts.deep : counts.quick);
  const started = performance.now();
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, {
    numRuns,
    interruptAfterTimeLimit: SECONDS * 1000,
    markInterruptAsFailure: false,
    ...(SEED === undefined ? {} : { seed: SEED }),
  });
  const report = {
    name,
    runs: details.numRuns,
    ms: Math.round(performance.now() - started),
    interrupted: details.interrupted,
  };
  if (details.failed) {
    throw new Error(`${name}:\n${fc.defaultReportMessage(details)}`, {
      cause: details.errorInstance,
    });
  }
  reports.push(report);
  if (DEEP || RUNS !== undefined) {
    console.log(
      `fuzz: ${name}: ${report.runs} runs in ${report.ms} ms` +
        (report.interrupted ? ` (stopped at the ${SECONDS} s bound)` : "") +
        ` (seed ${details.seed})`,
    );
  }
  return report;
}
