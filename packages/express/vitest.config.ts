import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): Express on node:http.
  test: tierTest('express', ['src/index.test.ts', 'test/conformance-http.test.ts']),
});
