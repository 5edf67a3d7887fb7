import type { Parameters as FcParameters } from 'fast-check';

import { env } from './env.js';

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
  const runs = Number(env('FC_NUM_RUNS'));
  const seedText = env('FC_SEED');
  const seed = seedText === undefined ? Number.NaN : Number(seedText);
  const path = env('FC_PATH');
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    ...(Number.isInteger(seed) ? { seed } : {}),
    ...(path ? { path } : {}),
    // Print the seed, the path and the shrunk counterexample on failure.
    verbose: 1,
  };
}
