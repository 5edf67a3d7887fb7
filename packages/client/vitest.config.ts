import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): fetch (undici) and WebCrypto keys.
  test: tierTest('client', ['src/key.test.ts', 'test/requests.test.ts', 'test/retries.test.ts']),
});
