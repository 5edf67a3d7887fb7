import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): Koa on node:http.
  test: tierTest('koa', ['src/index.test.ts', 'test/conformance-http.test.ts']),
});
