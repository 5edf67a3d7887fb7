import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): the reference adapter on node:http.
  test: tierTest('conformance', ['test/http-teeth.test.ts']),
});
