import { describe, expect, it } from 'vitest';
import { BUDGET_BYTES, measureHonoMiddleware } from '../scripts/size.ts';

describe('size budget', () => {
  it('@idem/core + @idem/hono, bundled for workerd, minified and gzipped, stay within 8 KB (8,000 bytes)', async () => {
    const { gzippedBytes } = await measureHonoMiddleware();
    expect(gzippedBytes).toBeGreaterThan(1_000); // it did bundle something
    expect(gzippedBytes).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});
