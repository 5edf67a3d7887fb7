import { configDefaults } from 'vitest/config';

// Tests run against each package's TypeScript sources through the `@idem/source`
// export condition, so no build is needed before `pnpm test`.
//
// Vitest hands ssr.resolve.conditions to Node as --conditions, which also steer
// require() inside CommonJS dependencies. Generic conditions such as `import`
// or `module` would send require() to ESM or bundler-only builds (the AWS SDK's
// dist-es, pg-pool's ESM wrapper, Express 5's is-promise, big.js in dynalite),
// and Vite adds import/require/default per import by itself: list only ours.
const conditions = ['@idem/source', 'node'];

export const sourceConditions = {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
};

/**
 * The test tiers (CONTRIBUTING.md says which to run when), picked by
 * `IDEM_TEST_TIER`:
 *
 * - `everyday` (default, `pnpm test`): every package, every `*.test.ts` but
 *   the deep ones; a few minutes.
 * - `deep` (`pnpm test:deep`, CI once): the `*.deep.test.ts` files, tests
 *   that need minutes or a loaded machine by design: chaos under CPU
 *   pressure, process kills, soak, full-size cross-runtime runs.
 * - `compat` (`pnpm test:compat`, CI on Node 22 and 24): the files each
 *   project lists as depending on the Node version (module loading, crypto,
 *   streams, fetch, the adapters' Node paths).
 */
export type TestTier = 'everyday' | 'deep' | 'compat';

const TIERS: readonly TestTier[] = ['everyday', 'deep', 'compat'];

function currentTier(): TestTier {
  const named = process.env.IDEM_TEST_TIER ?? 'everyday';
  if (!TIERS.includes(named as TestTier)) {
    throw new Error(
      `IDEM_TEST_TIER=${named}: use one of ${TIERS.join(', ')} (unset means everyday)`,
    );
  }
  return named as TestTier;
}

export const tier: TestTier = currentTier();

const DEEP = '**/*.deep.test.ts';

/**
 * A project's `test` settings for the current tier.
 *
 * @param name The project's name (its folder's).
 * @param compat Globs of its files whose behaviour depends on the Node
 *   version, run again on every Node major in CI. @default [] (none)
 */
export function tierTest(name: string, compat: readonly string[] = []) {
  const include = tier === 'deep' ? [DEEP] : tier === 'compat' ? [...compat] : ['**/*.test.ts'];
  return {
    name,
    include,
    exclude: [...configDefaults.exclude, '**/dist/**', ...(tier === 'everyday' ? [DEEP] : [])],
    // Vitest's 5 s default fails a 2-second property test on a busy 2-core
    // machine running files side by side; a test that needs longer says so.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  };
}
