import { describe, expect, it } from 'vitest';
import {
  BUDGET_BYTES,
  bundleForWorkers,
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

  it('leaves out what a Worker does not use: the replay cache until replayCache() is imported, and Node code', async () => {
    const text = async (contents: string) =>
      new TextDecoder().decode(await bundleForWorkers(contents));
    const middleware = await text("export * from '@idem/hono';");
    // The cache's own error prefix, and what only Node's hash (native-sha256/node.ts) says.
    for (const word of ['idem: replayCache()', 'utf16le', 'createHash', 'node:']) {
      expect(middleware).not.toContain(word);
    }
    const withCache = await text(
      "export * from '@idem/hono'; export { replayCache } from '@idem/core';",
    );
    expect(withCache).toContain('idem: replayCache()');
  });
});
