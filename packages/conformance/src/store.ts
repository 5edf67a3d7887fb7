/**
 * `@idem/conformance/store`: the suite every idem store passes.
 *
 * ```ts
 * import { storeSuite } from '@idem/conformance/store';
 * import { memoryStore } from '@idem/store-memory';
 *
 * storeSuite({
 *   name: 'memory',
 *   clock: 'injectable',
 *   createStore: ({ now }) => memoryStore({ now }),
 * });
 * ```
 *
 * @packageDocumentation
 */
import { afterAll, describe, it } from 'vitest';
import { assertKnownChecks, skipReason } from './skip.js';
import { allChecks } from './store/checks.js';
import { createHarness, type StoreCheck, type StoreSuiteOptions } from './store/harness.js';

export type {
  CheckGroup,
  ClockKind,
  StoreCheck,
  StoreFactoryContext,
  StoreSuiteOptions,
} from './store/harness.js';

import { env } from './env.js';

export { ConformanceError } from './store/harness.js';

/**
 * The suite's checks as plain async functions that throw a `ConformanceError`
 * (or the store's own error) on failure: for other test runners, and for
 * proving the suite catches broken stores.
 */
export function storeChecks(options: StoreSuiteOptions): readonly StoreCheck[] {
  const property = Number(env('FC_NUM_RUNS')) || 50;
  const counts = { model: options.modelRuns ?? 200, property };
  return allChecks(options).map((spec) => ({
    group: spec.group,
    name: spec.name,
    async run() {
      const harness = await createHarness(options);
      try {
        await spec.body(harness, counts);
      } finally {
        await harness.close();
      }
    },
  }));
}

/**
 * Declare the store conformance suite as vitest tests: lifecycle, a
 * model-based property over random command sequences, concurrency, fencing,
 * byte-exact round trips, isolation and expiry. `FC_NUM_RUNS` and `FC_SEED`
 * steer the properties; a failure prints its seed.
 */
export function storeSuite(options: StoreSuiteOptions): void {
  describe(`@idem/conformance store suite: ${options.name}`, () => {
    if (options.skip) {
      it.skip(`skipped: ${options.skip}`, () => {});
      return;
    }
    const checks = storeChecks(options);
    assertKnownChecks(
      'storeSuite',
      options.skipChecks,
      checks.map((c) => c.name),
    );
    for (const c of checks) {
      const reason = skipReason(options, c);
      if (reason) it.skip(`${c.group}: ${c.name} (skipped: ${reason})`, () => {});
      else it(`${c.group}: ${c.name}`, () => c.run(), options.timeoutMs ?? 60_000);
    }
    if (options.teardown) afterAll(options.teardown);
  });
}
