import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): Hono on @hono/node-server, client
  // disconnects.
  test: tierTest('hono', ['test/conformance-http.test.ts', 'test/disconnect.test.ts']),
});
