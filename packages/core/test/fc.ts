import type { Parameters } from 'fast-check';

/**
 * fast-check parameters for core's property tests, honouring two knobs:
 *
 * - `FC_NUM_RUNS`: runs per property (overrides `defaultRuns`);
 * - `FC_SEED` (and `FC_PATH`): replay a failure. On failure fast-check prints
 *   the seed, the path and the shrunk counterexample (`verbose: 1`); pass them
 *   back as `FC_SEED=… FC_PATH=…` to run exactly that case again.
 *
 * @param defaultRuns Runs when `FC_NUM_RUNS` is not set.
 */
export function fcOptions<T>(defaultRuns: number): Parameters<T> {
  const runs = Number(process.env.FC_NUM_RUNS);
  const seedText = process.env.FC_SEED;
  const seed = seedText === undefined || seedText === '' ? Number.NaN : Number(seedText);
  const path = process.env.FC_PATH;
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    ...(Number.isInteger(seed) ? { seed } : {}),
    ...(path ? { path } : {}),
    verbose: 1,
  };
}
