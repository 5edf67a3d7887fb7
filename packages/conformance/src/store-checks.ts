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
import { env } from './env.js';
import { allChecks } from './store/checks.js';
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
  const forced = Number(env('FC_NUM_RUNS')) || undefined;
  const counts = {
    model: forced ?? options.modelRuns ?? 100,
    property: forced ?? options.propertyRuns ?? 50,
  };
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
