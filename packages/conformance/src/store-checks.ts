/**
 * `@idem/conformance/store/checks`: the store suite's checks as plain async
 * functions, with no test runner and no Node API behind them. Run them from
 * any runner (node:test, Bun, Deno) or inside the runtime the store is built
 * for, such as a Cloudflare Worker next to its D1 or Durable Object binding.
 *
 * ```ts
 * import { storeChecks } from '@idem/conformance/store/checks';
 * import { memoryStore } from '@idem/store-memory';
 *
 * for (const check of storeChecks({ name: 'memory', clock: 'injectable', createStore: ({ now }) => memoryStore({ now }) })) {
 *   await check.run(); // throws a ConformanceError naming the broken rule
 * }
 * ```
 *
 * @packageDocumentation
 */

import { ConfigurationError } from '@idem/core/store';
import { env } from './env.js';
import { allChecks, type RunCounts } from './store/checks.js';
import { createHarness, type StoreCheck, type StoreSuiteOptions } from './store/harness.js';

// What a runner of its own needs to honour `skip`, `skipGroups` and `skipChecks` as storeSuite does.
export { assertKnownChecks, skipReason } from './skip.js';
export type { LifecycleCoverage } from './store/coverage.js';
export { reachableKinds } from './store/coverage.js';
export type {
  CheckGroup,
  ClockKind,
  StoreCheck,
  StoreCheckReport,
  StoreConnection,
  StoreFactoryContext,
  StoreSuiteOptions,
  StoreSuiteProfile,
} from './store/harness.js';
export { ConformanceError } from './store/harness.js';
export { ATOMIC_CLAIM_FIX } from './store/race.js';
export type { StoreProcess, StoreProcesses } from './store/remote.js';
export { serveStore } from './store/remote.js';

/**
 * The suite's checks as plain async functions that throw a `ConformanceError`
 * (or the store's own error) on failure and resolve to a report when they
 * pass: for other test runners and runtimes, and for proving the suite
 * catches broken stores. `FC_NUM_RUNS` (where `process.env` exists)
 * overrides every property's run count.
 */
export function storeChecks(options: StoreSuiteOptions): readonly StoreCheck[] {
  const counts = runCounts(options);
  return allChecks(options).map((spec) => ({
    group: spec.group,
    name: spec.name,
    ...(spec.skip ? { skip: spec.skip } : {}),
    async run() {
      const harness = await createHarness(options);
      try {
        return (await spec.body(harness, counts)) ?? undefined;
      } finally {
        await harness.close();
      }
    },
  }));
}

/** What the quick profile divides the full counts by: runs, then race keys and rounds. */
const QUICK = { runs: 5, races: 4 };

function runCounts(options: StoreSuiteOptions): RunCounts {
  const profile = options.profile ?? 'full';
  if (profile !== 'full' && profile !== 'quick') {
    throw new ConfigurationError(
      `${options.name}: profile ${JSON.stringify(profile)} is not a profile: use 'full' (the default) or 'quick'`,
    );
  }
  const share = (full: number, divisor: number) =>
    profile === 'quick' ? Math.max(1, Math.ceil(full / divisor)) : full;
  const forced = Number(env('FC_NUM_RUNS')) || undefined;
  return {
    model: forced ?? share(options.modelRuns ?? 100, QUICK.runs),
    property: forced ?? share(options.propertyRuns ?? 50, QUICK.runs),
    raceKeys: share(Math.max(1, options.raceKeys ?? 400), QUICK.races),
    rounds: (full) => share(full, QUICK.races),
  };
}
