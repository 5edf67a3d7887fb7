import { describe, expect, it } from 'vitest';
import {
  BUDGET_BYTES,
  measureHonoMiddleware,
  measureWithStore,
  STORE_BUDGETS,
} from '../scripts/size.ts';

describe('size budget', () => {
  it(`@idem/core + @idem/hono, bundled for workerd, minified and gzipped, stay within ${BUDGET_BYTES.toLocaleString('en')} bytes`, async () => {
    const { gzippedBytes } = await measureHonoMiddleware();
    expect(gzippedBytes).toBeGreaterThan(1_000); // it did bundle something
    expect(gzippedBytes).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it.each(Object.entries(STORE_BUDGETS))(
    '@idem/core + @idem/hono + %s stay within %i bytes gzipped',
    async (store, budget) => {
      const [alone, withStore] = await Promise.all([
        measureHonoMiddleware(),
        measureWithStore(store as keyof typeof STORE_BUDGETS),
      ]);
      expect(withStore.gzippedBytes).toBeGreaterThan(alone.gzippedBytes); // the store is in it
      expect(withStore.gzippedBytes).toBeLessThanOrEqual(budget);
    },
  );
});
