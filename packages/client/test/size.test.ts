import { describe, expect, it } from 'vitest';
import { BUDGET_BYTES, measureClient } from '../scripts/size.js';

describe('size budget', () => {
  it('all of @idem/client, bundled for browsers, minified and gzipped, stays within 4,300 bytes', async () => {
    const { gzippedBytes } = await measureClient();
    expect(gzippedBytes).toBeGreaterThan(1_000); // it did bundle something
    expect(gzippedBytes).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});
