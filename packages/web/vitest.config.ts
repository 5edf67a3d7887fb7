import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): Node's own Request and Response.
  test: tierTest('web', ['test/conformance-http.test.ts']),
});
