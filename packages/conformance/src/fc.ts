import type { Parameters as FcParameters } from 'fast-check';

type Env = Record<string, string | undefined>;

function env(): Env {
  return (globalThis as { process?: { env?: Env } }).process?.env ?? {};
}

/**
 * fast-check parameters honouring the suite's knobs:
 *
 * - `FC_NUM_RUNS`: runs per property (overrides `defaultRuns`);
 * - `FC_SEED`: replay a failing run (fast-check prints the seed and path on
 *   failure; pass both back as `FC_SEED` and `FC_PATH`).
 *
 * @param defaultRuns Runs when `FC_NUM_RUNS` is not set.
 */
export function fcParameters<T>(defaultRuns: number): FcParameters<T> {
  const vars = env();
  const runs = Number(vars.FC_NUM_RUNS);
  const seed = vars.FC_SEED === undefined ? Number.NaN : Number(vars.FC_SEED);
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    ...(Number.isInteger(seed) ? { seed } : {}),
    ...(vars.FC_PATH ? { path: vars.FC_PATH } : {}),
    // Print the seed, the path and the shrunk counterexample on failure.
    verbose: 1,
  };
}
