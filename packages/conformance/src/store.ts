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
import type { StoreSuiteOptions } from './store/harness.js';
import { storeChecks } from './store-checks.js';

export { type ChildProcessesOptions, childProcesses } from './store/processes.js';
export {
  ATOMIC_CLAIM_FIX,
  type CheckGroup,
  type ClockKind,
  ConformanceError,
  type LifecycleCoverage,
  type StoreCheck,
  type StoreCheckReport,
  type StoreConnection,
  type StoreFactoryContext,
  type StoreProcess,
  type StoreProcesses,
  type StoreSuiteOptions,
  type StoreSuiteProfile,
  serveStore,
  storeChecks,
} from './store-checks.js';

/**
 * Declare the store conformance suite as vitest tests: lifecycle, a
 * model-based property over random command sequences, concurrency, fencing,
 * byte-exact round trips, isolation, expiry, and claims raced across
 * connections (`connect`) and processes (`processes`). `FC_NUM_RUNS` and `FC_SEED`
 * steer the properties; a failure prints its seed. The model-based test
 * records which lifecycle transitions it exercised in its test's
 * `meta.lifecycle` (a {@link LifecycleCoverage}), which vitest's JSON
 * reporter writes out.
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
      else {
        it(
          `${c.group}: ${c.name}`,
          async ({ task }) => {
            const report = await c.run();
            // Kept in the test's meta: the JSON reporter carries it to tools that sum coverage.
            if (report?.lifecycle) task.meta.lifecycle = report.lifecycle;
          },
          options.timeoutMs ?? 60_000,
        );
      }
    }
    if (options.teardown) afterAll(options.teardown);
  });
}

declare module 'vitest' {
  interface TaskMeta {
    /** Set by the store suite's model-based test: the lifecycle transitions it exercised. */
    lifecycle?: import('./store/coverage.js').LifecycleCoverage;
  }
}
